/**
 * Maps what node-vault throws (its `ApiResponseError` for a Vault error status, axios's error
 * when no answer came back) onto the cmek error hierarchy.
 *
 * The original error is never attached: axios errors hold the request's headers, so the Vault
 * token. The `cause` is a {@link VaultRequestError} with only the status, the network code and
 * Vault's own error strings, with anything shaped like a Vault token redacted.
 */
import {
  CmekConfigError,
  CmekDecryptionError,
  type CmekError,
  CmekKekAccessDeniedError,
  CmekKekUnavailableError,
  CmekProviderError,
  CmekUnknownKekError,
} from '@cmek/core';

export const VAULT_PROVIDER_ID = 'vault';

export type TransitOperation = 'datakey' | 'decrypt' | 'rewrap' | 'encrypt' | 'login';

/** What is known about one failed Vault request, free of secrets. */
export interface VaultFailure {
  /** The HTTP status Vault answered with, if it answered. */
  readonly status: number | undefined;
  /** The network error code (`ECONNREFUSED`, `ECONNABORTED` for a timeout, ...), if any. */
  readonly code: string | undefined;
  /** Vault's `errors` strings (or one item's `error` in a batch). */
  readonly errors: readonly string[];
  /** The client error's own message when there was no HTTP answer (e.g. `connect ECONNREFUSED ...`). */
  readonly message: string | undefined;
}

/** The `cause` of every error this provider throws for a failed request. */
export class VaultRequestError extends Error {
  readonly status: number | undefined;
  readonly code: string | undefined;
  readonly vaultErrors: readonly string[];
  constructor(failure: VaultFailure) {
    const parts = [
      failure.status === undefined ? 'no HTTP response' : `HTTP ${failure.status}`,
      failure.code,
      ...failure.errors,
      failure.status === undefined ? failure.message : undefined,
    ].filter((part): part is string => typeof part === 'string' && part.length > 0);
    super(parts.join(': '));
    this.status = failure.status;
    this.code = failure.code;
    this.vaultErrors = failure.errors;
    Object.defineProperty(this, 'name', { value: 'VaultRequestError', enumerable: false });
  }
}

/** Vault service tokens (`hvs.`, `s.`), batch tokens (`hvb.`, `b.`), recovery tokens (`hvr.`, `r.`). */
const TOKEN_SHAPE = /\b(?:hv[sbr]|[sbr])\.[A-Za-z0-9_-]{16,}/g;

/** Removes tokens from text that is about to become part of an error. */
export function redact(text: string, secrets: readonly string[] = []): string {
  let out = text.replace(TOKEN_SHAPE, '[redacted]');
  for (const secret of secrets) {
    if (secret.length >= 4) out = out.split(secret).join('[redacted]');
  }
  return out.length > 500 ? `${out.slice(0, 500)}...` : out;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null
    ? (value as Record<string, unknown>)
    : undefined;
}

function stringsOf(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  return value.filter((item): item is string => typeof item === 'string');
}

/** Reads a failure out of whatever the client threw, keeping no reference to it. */
export function describeFailure(error: unknown, secrets: readonly string[]): VaultFailure {
  const shape = record(error);
  const response = record(shape?.response);
  const rawStatus = response?.statusCode ?? response?.status;
  const status = typeof rawStatus === 'number' ? rawStatus : undefined;
  const body = record(response?.body ?? response?.data);
  const code = typeof shape?.code === 'string' ? shape.code : undefined;
  const message = typeof shape?.message === 'string' ? shape.message : undefined;
  return {
    status,
    code: code === undefined ? undefined : redact(code, secrets),
    errors: stringsOf(body?.errors).map((text) => redact(text, secrets)),
    message: message === undefined ? undefined : redact(message, secrets),
  };
}

/** The `batch_results` of a batch response Vault refused as a whole (a 400 when an item failed). */
export function batchResultsOf(error: unknown): unknown[] | undefined {
  const response = record(record(error)?.response);
  const body = record(response?.body ?? response?.data);
  const results = record(body?.data)?.batch_results;
  return Array.isArray(results) ? results : undefined;
}

const UNAVAILABLE_STATUS = new Set([408, 412, 429, 500, 502, 503, 504]);
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ERR_NETWORK',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
  'ERR_CANCELED',
]);

function summary(failure: VaultFailure): string {
  const first = failure.errors[0]?.replace(/\s+/g, ' ').trim();
  const status = failure.status === undefined ? failure.code : String(failure.status);
  return [status, first].filter(Boolean).join(': ');
}

export interface MapContext {
  readonly operation: TransitOperation;
  /** `<mount>/<keyName>` the call used. */
  readonly keyRef: string;
  /** The key version of the ciphertext being opened or rewrapped, for the min_decryption_version message. */
  readonly version?: number | undefined;
  /** `item 3 of 10`, for an item of a batch. */
  readonly item?: string | undefined;
  /** Requests sent for this call (more than one after retries). */
  readonly attempts?: number | undefined;
}

function triedTimes(context: MapContext): string {
  return context.attempts !== undefined && context.attempts > 1
    ? ` after ${context.attempts} attempts`
    : '';
}

/** The cmek error for one failed Transit request. */
export function mapVaultFailure(failure: VaultFailure, context: MapContext): CmekError {
  const options = { cause: new VaultRequestError(failure) };
  const { operation, keyRef } = context;
  const where = `Vault Transit ${operation} with key '${keyRef}'${context.item ? ` (${context.item})` : ''}`;
  const text = failure.errors.join(' ').toLowerCase();
  const status = failure.status;
  const opens = operation === 'decrypt' || operation === 'rewrap';

  if (status === undefined) {
    if (failure.code !== undefined && NETWORK_CODES.has(failure.code)) {
      return new CmekKekUnavailableError(
        `${where}: Vault cannot be reached (${failure.code})${triedTimes(context)}; try again later`,
        options,
      );
    }
    return new CmekProviderError(
      VAULT_PROVIDER_ID,
      `${where} failed without an HTTP response; see cause`,
      options,
    );
  }
  if (operation === 'login' && status < 500) {
    return new CmekKekAccessDeniedError(
      `Vault refused the tokenProvider's login for key '${keyRef}' (${summary(failure)})`,
      options,
    );
  }
  if (status === 401 || status === 403) {
    return new CmekKekAccessDeniedError(
      `${where} was denied (${summary(failure)}): the token must be valid and its policy must allow 'update' on this Transit path`,
      options,
    );
  }
  if (status === 503 && text.includes('sealed')) {
    return new CmekKekUnavailableError(
      `${where}: Vault is sealed${triedTimes(context)}; try again once it is unsealed`,
      options,
    );
  }
  if (UNAVAILABLE_STATUS.has(status) || status >= 500) {
    return new CmekKekUnavailableError(
      `${where}: Vault is unavailable (${summary(failure)})${triedTimes(context)}; try again later`,
      options,
    );
  }
  if (text.includes('encryption key not found')) {
    return new CmekUnknownKekError(
      VAULT_PROVIDER_ID,
      keyRef,
      `${where}: Vault has no Transit key '${keyRef}' (or it was deleted)`,
      options,
    );
  }
  if (status === 404) {
    return new CmekConfigError(
      `${where}: Vault has no such path (${summary(failure)}); is a Transit engine mounted there?`,
      options,
    );
  }
  if (opens && text.includes('disallowed by policy (too old)')) {
    const version =
      context.version === undefined ? 'its key version' : `key version ${context.version}`;
    return new CmekDecryptionError(
      `${where}: the value was wrapped under ${version}, which is below the key's min_decryption_version; lower min_decryption_version on the Transit key to read it`,
      options,
    );
  }
  if (opens && status === 400) {
    return new CmekDecryptionError(
      `${where}: the wrapped DEK cannot be decrypted: it was altered, or it was written under another Transit key`,
      options,
    );
  }
  if (status === 400) {
    return new CmekConfigError(
      `${where} was refused (${summary(failure)}): the key must be an encryption key (aes256-gcm96, chacha20-poly1305, ...)`,
      options,
    );
  }
  return new CmekProviderError(
    VAULT_PROVIDER_ID,
    `${where} failed with an unexpected answer (${summary(failure)})`,
    options,
  );
}
