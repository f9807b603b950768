/** Options of `createVaultKekProvider` and their validation (every failure is a `CmekConfigError`). */
import { CmekConfigError } from '@cmek/core';
import type { VaultClient } from './client';
import { DEFAULT_RETRY, NO_RETRY, type RetryPolicy, type VaultRetryOptions } from './retry';

/** Returns a Vault token: called before the first request and once more after a 403. */
export type VaultTokenProvider = () => string | Promise<string>;

export interface VaultKekProviderOptions {
  /**
   * Vault's address with its scheme, e.g. `https://vault.internal:8200`. Default: `VAULT_ADDR`.
   * Excludes `client` (the client's own endpoint is used).
   */
  endpoint?: string;
  /** A static Vault token. Default, when neither `token` nor `tokenProvider` is set: `VAULT_TOKEN`. */
  token?: string;
  /**
   * Returns a token (AppRole, Kubernetes auth, a file written by Vault Agent, ...). Called
   * before the first request, and once more whenever Vault answers 403, before the call is
   * retried one time. Excludes `token`.
   */
  tokenProvider?: VaultTokenProvider;
  /** The path the Transit engine is mounted at. Default `transit`. */
  mount?: string;
  /** The Transit key new DEKs are wrapped under. `keyRef` is `<mount>/<keyName>`. */
  keyName: string;
  /**
   * A Vault Enterprise / OpenBao namespace, sent as `X-Vault-Namespace` on every request. Default:
   * `VAULT_NAMESPACE` (read by node-vault). A namespace set on an injected node-vault client wins.
   */
  namespace?: string;
  /**
   * A node-vault client (or any object with node-vault's `request({ path, method, json,
   * headers })`), for TLS options, a proxy, or a `pathPrefix`. Excludes `endpoint`.
   */
  client?: VaultClient;
  /** Per-request timeout in milliseconds; a timed-out call is `CmekKekUnavailableError`. Default 10000. */
  requestTimeoutMs?: number;
  /** Items per Transit `batch_input` request in `unwrapMany`. Default 250. */
  batchSize?: number;
  /**
   * Retries of transient failures (connection refused or reset, timeouts, 412, 429, 500, 502,
   * 503, 504) with exponential backoff and full jitter. Default `{ retries: 3, minTimeoutMs: 100,
   * maxTimeoutMs: 2000 }`; `false` sends each request once. A refusal (400, 403, 404, ...) is
   * never retried.
   */
  retry?: VaultRetryOptions | false;
}

export interface ValidatedOptions {
  readonly mount: string;
  readonly keyName: string;
  readonly keyRef: string;
  readonly namespace: string | undefined;
  readonly requestTimeoutMs: number;
  readonly batchSize: number;
  readonly retry: RetryPolicy;
}

export const DEFAULT_MOUNT = 'transit';
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
export const DEFAULT_BATCH_SIZE = 250;
const MAX_KEY_REF_BYTES = 1024;
/** Vault key names and mount paths are URL path segments; keep them to what needs no escaping. */
const KEY_NAME = /^[A-Za-z0-9_.-]+$/;
const MOUNT = /^[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+)*$/;

function fail(message: string): never {
  throw new CmekConfigError(`createVaultKekProvider: ${message}`);
}

function integerAtLeast(value: unknown, name: string, min: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    fail(`${name} must be an integer >= ${min}`);
  }
  return value;
}

function retryPolicy(value: unknown): RetryPolicy {
  if (value === undefined) return DEFAULT_RETRY;
  if (value === false) return NO_RETRY;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail('retry must be false or { retries?, minTimeoutMs?, maxTimeoutMs? }');
  }
  const given = value as Record<string, unknown>;
  const unknown = Object.keys(given).filter(
    (key) => !['retries', 'minTimeoutMs', 'maxTimeoutMs'].includes(key),
  );
  if (unknown.length > 0) fail(`retry has no option ${unknown.map((k) => `'${k}'`).join(', ')}`);
  const policy: RetryPolicy = {
    retries: integerAtLeast(given.retries, 'retry.retries', 0, DEFAULT_RETRY.retries),
    minTimeoutMs: integerAtLeast(
      given.minTimeoutMs,
      'retry.minTimeoutMs',
      1,
      DEFAULT_RETRY.minTimeoutMs,
    ),
    maxTimeoutMs: integerAtLeast(
      given.maxTimeoutMs,
      'retry.maxTimeoutMs',
      1,
      DEFAULT_RETRY.maxTimeoutMs,
    ),
  };
  if (policy.minTimeoutMs > policy.maxTimeoutMs) {
    fail(
      `retry.minTimeoutMs (${policy.minTimeoutMs}) must not exceed retry.maxTimeoutMs (${policy.maxTimeoutMs})`,
    );
  }
  return policy;
}

/**
 * Refuses an address node-vault would misread: without `http://` or `https://`, axios takes
 * `127.0.0.1:8200` for a relative path or `vault:8200` for a URL of scheme `vault:`.
 */
export function checkEndpoint(endpoint: string, source: 'endpoint' | 'VAULT_ADDR'): void {
  // Userinfo is left out of the message, in case the address carries credentials.
  const shown = endpoint.includes('@') ? 'the address' : `'${endpoint}'`;
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(endpoint)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    fail(
      `${source} ${shown} has no scheme: write it with http:// or https:// (e.g. 'https://vault.internal:8200')`,
    );
  }
  if (scheme !== 'http' && scheme !== 'https') {
    fail(`${source} ${shown} must start with http:// or https://, not ${scheme}://`);
  }
  let host = '';
  try {
    host = new URL(endpoint).hostname;
  } catch {
    // reported below
  }
  if (host.length === 0) fail(`${source} ${shown} is not a valid URL`);
}

function optionalString(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0) fail(`${name} must be a non-empty string`);
  return value;
}

export function validateOptions(options: unknown): ValidatedOptions {
  if (typeof options !== 'object' || options === null) {
    fail('needs an options object with a keyName');
  }
  const opts = options as VaultKekProviderOptions;
  const mountRaw = optionalString(opts.mount, 'mount') ?? DEFAULT_MOUNT;
  const mount = mountRaw.replace(/^\/+|\/+$/g, '');
  if (!MOUNT.test(mount)) fail('mount must be a path of letters, digits, _ . - separated by /');
  if (typeof opts.keyName !== 'string' || !KEY_NAME.test(opts.keyName)) {
    fail('keyName must be a non-empty Transit key name of letters, digits, _ . -');
  }
  const keyRef = `${mount}/${opts.keyName}`;
  if (Buffer.byteLength(keyRef) > MAX_KEY_REF_BYTES) {
    fail(
      `<mount>/<keyName> must be at most ${MAX_KEY_REF_BYTES} bytes (it is stored in every token)`,
    );
  }
  const endpoint = optionalString(opts.endpoint, 'endpoint');
  const token: unknown = opts.token;
  if (token !== undefined && (typeof token !== 'string' || token.length === 0)) {
    fail('token must be a non-empty string');
  }
  if (opts.tokenProvider !== undefined && typeof opts.tokenProvider !== 'function') {
    fail('tokenProvider must be a function returning a token');
  }
  if (token !== undefined && opts.tokenProvider !== undefined) {
    fail('pass either token or tokenProvider, not both');
  }
  if (opts.client !== undefined) {
    const client: unknown = opts.client;
    if (
      typeof client !== 'object' ||
      client === null ||
      typeof (client as { request?: unknown }).request !== 'function'
    ) {
      fail('client must be a node-vault client (an object with request())');
    }
    if (opts.endpoint !== undefined) fail('endpoint configures the client the provider creates');
  }
  if (endpoint !== undefined) checkEndpoint(endpoint, 'endpoint');
  return {
    mount,
    keyName: opts.keyName,
    keyRef,
    namespace: optionalString(opts.namespace, 'namespace'),
    requestTimeoutMs: integerAtLeast(
      opts.requestTimeoutMs,
      'requestTimeoutMs',
      1,
      DEFAULT_REQUEST_TIMEOUT_MS,
    ),
    batchSize: integerAtLeast(opts.batchSize, 'batchSize', 1, DEFAULT_BATCH_SIZE),
    retry: retryPolicy(opts.retry),
  };
}
