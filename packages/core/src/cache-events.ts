/** The events and counters the envelope's caches share. */
import type { Emit } from './emitter';
import { CmekError } from './errors';
import type { CacheName, EvictionReason } from './events';

/** One cache in `envelope.stats()`. */
export interface CacheStats {
  readonly cache: CacheName;
  /** Entries held now (a DEK kept for its stale grace included). */
  readonly size: number;
  /** Lookups since `createEnvelope`, counted as the `cache-hit` / `cache-miss` events are. */
  readonly hits: number;
  readonly misses: number;
}

export interface EnvelopeStats {
  readonly caches: readonly CacheStats[];
}

/** Hit and miss counts, kept whether or not anyone listens (two integer increments). */
export class Lookups {
  hits = 0;
  misses = 0;

  stats(cache: CacheName, size: number): CacheStats {
    return { cache, size, hits: this.hits, misses: this.misses };
  }
}

export function emitEvicted(
  emit: Emit,
  cache: CacheName,
  reason: EvictionReason,
  kek: { readonly providerId: string; readonly keyRef: string },
  count = 1,
): void {
  if (count < 1) return;
  const { providerId, keyRef } = kek;
  emit({
    type: 'cache-evict',
    cache,
    reason,
    providerId,
    keyRef,
    ...(count === 1 ? {} : { count }),
  });
}

/** Whether a failed KEK call lets a cache serve a DEK past its age: only an unavailable KEK. */
export function allowsStale(error: unknown): boolean {
  return CmekError.isInstance(error) && error.code === 'CMEK_KEK_UNAVAILABLE';
}
