/**
 * A scripted stand-in for node-vault's client, for the unit tests of the error mapping only
 * (everything else runs against a real Vault). It records each request and answers through a
 * handler; the error shapes copy node-vault 0.12 (`ApiResponseError`) and axios.
 */
import type { VaultClient, VaultRequestOptions } from '../src/index';

export type Handler = (request: VaultRequestOptions, index: number) => unknown;

export class FakeVaultClient implements VaultClient {
  readonly requests: VaultRequestOptions[] = [];
  constructor(private readonly handler: Handler) {}

  async request(options: VaultRequestOptions): Promise<unknown> {
    // Copied: the provider must not rely on the client leaving its object alone (node-vault mutates it).
    const copy = structuredClone(options);
    this.requests.push(copy);
    return this.handler(copy, this.requests.length - 1);
  }

  tokens(): (string | undefined)[] {
    return this.requests.map((r) => r.headers?.['X-Vault-Token']);
  }
}

/** What node-vault rejects with for a non-2xx answer. */
export function apiError(statusCode: number, body: unknown): Error {
  const errors = (body as { errors?: string[] } | undefined)?.errors;
  const error = new Error(errors?.[0] ?? `Status ${statusCode}`) as Error & {
    response: { statusCode: number; body: unknown };
  };
  error.response = { statusCode, body };
  return error;
}

/** What axios rejects with when no answer came back: it carries the request config, token included. */
export function networkError(code: string, message: string, token: string): Error {
  const error = new Error(message) as Error & {
    code: string;
    isAxiosError: boolean;
    config: { headers: Record<string, string>; url: string };
  };
  error.code = code;
  error.isAxiosError = true;
  error.config = { headers: { 'X-Vault-Token': token }, url: 'http://127.0.0.1:1/v1/transit' };
  return error;
}

export const DEK_B64 = Buffer.alloc(32, 7).toString('base64');
export const CIPHERTEXT_V1 = 'vault:v1:c29tZSBjaXBoZXJ0ZXh0IGJ5dGVzIGZvciB0ZXN0cw==';
export const CIPHERTEXT_V2 = 'vault:v2:YW5vdGhlciBjaXBoZXJ0ZXh0IGJ5dGVzIGZvciB0ZXN0cw==';

export function bytes(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'latin1'));
}
