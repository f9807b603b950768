/**
 * The event and API shapes this package consumes beyond the first `@cmek/core` events, declared
 * here so that the package also works with a core that lacks them (each is feature-detected; see
 * `/docs/observability.md`, "What needs a newer core"). The core of this release emits all of them
 * with exactly these shapes (`CacheEvictEvent`, `StaleDekUsedEvent`, `ValuesEvent`, `KekCallHook`,
 * `envelope.stats()` in `@cmek/core`). None of them carries a secret.
 */
import type { CmekEvent, KekOperation } from '@cmek/core';

/** A DEK (or a derived value key) dropped from a cache and zeroed. */
export interface CacheEvictEvent {
  readonly type: 'cache-evict';
  readonly cache: 'encrypt' | 'decrypt' | 'value-key';
  /**
   * `capacity`: LRU full; `expired`: past `maxAgeMs` (and its grace); `uses`: past `maxUses`;
   * `close`; `access-denied`: the KEK refused the key reference, every DEK of it is dropped.
   */
  readonly reason: 'capacity' | 'expired' | 'uses' | 'close' | 'access-denied';
  readonly providerId: string;
  readonly keyRef: string;
  /** DEKs dropped at once (a `close` drops all); default 1. */
  readonly count?: number;
}

/** A cached DEK used past its age limit because the KEK answered `unavailable` (the grace). */
export interface StaleDekUsedEvent {
  readonly type: 'stale-dek-used';
  readonly cache: 'encrypt' | 'decrypt';
  readonly providerId: string;
  readonly keyRef: string;
  /** How far past its `maxAgeMs` the DEK was. */
  readonly overAgeMs: number;
}

/** One envelope call's values (one event per `encrypt`/`encryptMany`, not per value). */
export interface ValuesEvent {
  readonly type: 'values';
  readonly operation: 'encrypt' | 'decrypt';
  /** Values handled (nulls excluded). */
  readonly count: number;
  /** The context's `field`, when there is one. */
  readonly field?: string;
}

/** Every event this package understands: the first core events plus those added with `stats()` and the hook. */
export type ObservedEvent = CmekEvent | CacheEvictEvent | StaleDekUsedEvent | ValuesEvent;

/** What core tells an around-hook about the KEK call it is about to make. */
export interface KekCallInfo {
  readonly operation: KekOperation | (string & {});
  readonly providerId: string;
  readonly keyRef: string;
  readonly count: number;
}

/**
 * An around-hook core would call for every KEK call (`EnvelopeOptions.kekCallHook`):
 * `run` is the provider call; what the hook returns is what core gets. It lets a tracer make
 * the KEK span the active parent of the provider SDK's own HTTP spans.
 */
export type KekCallHook = <T>(call: KekCallInfo, run: () => Promise<T>) => Promise<T>;

/** One cache in `envelope.stats()`. */
export interface CacheStats {
  readonly cache: 'encrypt' | 'decrypt' | 'value-key';
  /** Entries held now. */
  readonly size: number;
  /** Since the envelope was created; present together. */
  readonly hits?: number;
  readonly misses?: number;
}

/** The synchronous, allocation-light `envelope.stats()`. */
export interface EnvelopeStats {
  readonly caches: readonly CacheStats[];
}

/** An envelope, possibly (an older core) without `stats()`. */
export interface ObservableEnvelope {
  stats?: () => EnvelopeStats;
}
