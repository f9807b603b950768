/**
 * `envelope.health()`: one cheap KEK call on the primary (a `generateDataKey` whose DEK is zeroed
 * at once, reported as a `kek-call` event with operation `health`) and what the caches can still
 * serve, for readiness probes and dashboards.
 */
import type { CacheStats } from './cache-events';
import {
  CmekError,
  type CmekErrorCode,
  CmekInvalidInputError,
  CmekKekUnavailableError,
} from './errors';
import { type KekChannel, probe } from './kek-calls';
import type { KekProvider } from './provider';

export interface HealthOptions {
  /** Ends the wait (e.g. `AbortSignal.timeout(2000)`): the KEK then counts as unavailable. */
  signal?: AbortSignal;
}

export type HealthStatus = 'ok' | 'degraded' | 'unavailable';

export interface HealthReport {
  /**
   * `ok`: the primary KEK answered. `degraded`: it did not, but cached DEKs still serve (values
   * under them decrypt; writes go on while the write DEK lasts). `unavailable`: it did not and no
   * cached DEK serves.
   */
  readonly status: HealthStatus;
  readonly kek: {
    readonly providerId: string;
    readonly keyRef: string;
    readonly ok: boolean;
    readonly errorCode?: CmekErrorCode;
    readonly durationMs: number;
  };
  readonly caches: readonly CacheStats[];
}

/** What the health check reads from the envelope's caches. */
export interface HealthCaches {
  /** Whether some cached DEK can still encrypt or decrypt (fresh, or within its grace). */
  serving(): boolean;
  stats(): readonly CacheStats[];
}

function signalOf(options: HealthOptions | undefined): AbortSignal | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null) {
    throw new CmekInvalidInputError('health takes an options object');
  }
  const { signal } = options;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new CmekInvalidInputError('health: signal must be an AbortSignal');
  }
  return signal;
}

const aborted = (): CmekKekUnavailableError =>
  new CmekKekUnavailableError('the health check was aborted before the KEK answered');

/** `run()`, or a rejection as soon as the signal aborts (the call itself runs to its end). */
function untilAborted(run: () => Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (signal === undefined) return run();
  if (signal.aborted) return Promise.reject(aborted());
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(aborted());
    signal.addEventListener('abort', onAbort, { once: true });
    run()
      .then(resolve, reject)
      .finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export async function checkHealth(
  kek: KekChannel,
  provider: KekProvider,
  caches: HealthCaches,
  options: HealthOptions | undefined,
): Promise<HealthReport> {
  const signal = signalOf(options);
  const started = performance.now();
  let errorCode: CmekErrorCode | undefined;
  try {
    await untilAborted(() => probe(kek, provider), signal);
  } catch (error) {
    // The doorway types every provider failure; anything else came from a kekCallHook.
    errorCode = CmekError.isInstance(error) ? error.code : 'CMEK_PROVIDER';
  }
  const durationMs = performance.now() - started;
  const { providerId, keyRef } = provider;
  const status = errorCode === undefined ? 'ok' : caches.serving() ? 'degraded' : 'unavailable';
  return {
    status,
    kek: {
      providerId,
      keyRef,
      ok: errorCode === undefined,
      ...(errorCode === undefined ? {} : { errorCode }),
      durationMs,
    },
    caches: caches.stats(),
  };
}
