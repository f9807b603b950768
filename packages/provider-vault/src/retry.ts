/**
 * Retries of transient Vault failures: exponential backoff with full jitter (the delay before
 * retry n is a random 0..min(maxTimeoutMs, minTimeoutMs * 2^(n-1)) ms), through
 * `exponential-backoff`. Only failures that a later identical request can get past are retried;
 * an answer that refuses the request (400, 403, 404, ...) never is.
 */
import { backOff } from 'exponential-backoff';
import type { VaultFailure } from './map-error';

/** `retry` option of the provider. */
export interface VaultRetryOptions {
  /** Retries after the first attempt (0: none). Default 3. */
  retries?: number;
  /** Upper bound of the first retry's delay, in milliseconds; it doubles per retry. Default 100. */
  minTimeoutMs?: number;
  /** Cap of every retry's delay, in milliseconds. Default 2000. */
  maxTimeoutMs?: number;
}

/** The `retry` option with its defaults applied (`false` is 0 retries). */
export type RetryPolicy = Readonly<Required<VaultRetryOptions>>;

export const DEFAULT_RETRY: RetryPolicy = Object.freeze({
  retries: 3,
  minTimeoutMs: 100,
  maxTimeoutMs: 2000,
});

export const NO_RETRY: RetryPolicy = Object.freeze({
  retries: 0,
  minTimeoutMs: 0,
  maxTimeoutMs: 0,
});

/**
 * 412: a performance standby or replica has not caught up yet (Vault asks clients to retry);
 * 429: a rate-limit quota; 500, 502, 503 (also sealed, standby), 504: the server or a proxy in
 * front of it. Not 501 (not implemented), nor any 4xx that refuses the request itself.
 */
const TRANSIENT_STATUS: ReadonlySet<number> = new Set([412, 429, 500, 502, 503, 504]);

/** No answer: refused, reset or broken connections, timeouts (axios: ECONNABORTED), DNS EAI_AGAIN. */
const TRANSIENT_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
]);

export function isTransient(failure: VaultFailure): boolean {
  if (failure.status !== undefined) return TRANSIENT_STATUS.has(failure.status);
  return failure.code !== undefined && TRANSIENT_CODES.has(failure.code);
}

/** How many requests one provider call has sent so far (retries and the 403 refresh included). */
export interface Attempts {
  count: number;
}

/**
 * Runs `request` until it resolves, fails with something that is not transient or the policy's
 * retries are spent. Rejects with the last failure.
 */
export function withRetry<T>(
  policy: RetryPolicy,
  request: () => Promise<T>,
  describe: (error: unknown) => VaultFailure,
  attempts: Attempts,
): Promise<T> {
  const counted = (): Promise<T> => {
    attempts.count++;
    return request();
  };
  if (policy.retries === 0) return counted();
  return backOff(counted, {
    numOfAttempts: policy.retries + 1,
    startingDelay: policy.minTimeoutMs,
    maxDelay: policy.maxTimeoutMs,
    timeMultiple: 2,
    jitter: 'full',
    delayFirstAttempt: false,
    retry: (error: unknown) => isTransient(describe(error)),
  });
}
