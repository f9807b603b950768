/** The part of node-vault's client the provider uses, and the client it creates when given none. */
import nodeVault from 'node-vault';

/** What the provider passes to `request`: node-vault's generic call (`path` starts with `/`). */
export type VaultRequestOptions = {
  path: string;
  method: 'POST' | 'GET';
  json?: Record<string, unknown>;
  headers?: Record<string, string>;
  /** Milliseconds; node-vault hands it to axios. */
  timeout?: number;
};

/**
 * node-vault's client, reduced to its generic `request`: resolves with the response body for a
 * 200/204, rejects with node-vault's `ApiResponseError` (`response: { statusCode, body }`) for
 * any other status, or with axios's error when no response came back.
 */
export interface VaultClient {
  request(options: VaultRequestOptions): Promise<unknown>;
}

export function createNodeVaultClient(endpoint: string, namespace?: string): VaultClient {
  // The token goes in each request's headers, so the provider can swap it. node-vault sets
  // X-Vault-Namespace from its own namespace (else VAULT_NAMESPACE) over the request's header.
  return nodeVault({
    apiVersion: 'v1',
    endpoint,
    ...(namespace === undefined ? {} : { namespace }),
    // node-vault turns certificate checks off when VAULT_SKIP_VERIFY is set to anything, even
    // "false". The client created here always verifies; a client passed in decides for itself.
    requestOptions: { strictSSL: true },
  });
}
