/**
 * The cache of moved DEKs (old wrapped-DEK record to new) behind `rewrap`: private to one call by
 * default, or created with `createRewrapCache` and shared by several calls, so that a DEK whose
 * values are spread over several stores costs one KEK call for the whole rotation.
 */
import { CmekConfigError, type CmekError } from '../errors';
import type { Keyring } from '../keyring';
import { positiveInteger } from './counts';

export type MoveOutcome =
  | { readonly ok: true; readonly kekText: string }
  | { readonly ok: false; readonly error: CmekError };

export interface RewrapCacheOptions {
  /** Old-record to new-record entries kept (oldest dropped first). Default 100,000. */
  maxEntries?: number;
}

/**
 * DEKs moved to one primary KEK, for `rewrap(store, { keyring, cache })`. It is bound to the
 * primary (provider id and key reference) of the first `rewrap` it is passed to; a `rewrap`
 * whose keyring has another primary throws `CmekConfigError`.
 */
export interface RewrapCache {
  /** The DEKs remembered: moved, being moved, or failed for a reason that does not end a run. */
  readonly size: number;
}

export interface CacheEntry {
  /** The keyring of the call that made the KEK calls: its failures are not another keyring's. */
  readonly keyring: Keyring;
  readonly outcome: Promise<MoveOutcome>;
}

/** Private to this module: a cache is only usable by the copy of the core that made it. */
const REWRAP_CACHE = Symbol('cmek.rewrap-cache');

/** The entries, a bound on their number, and the primary they were moved to. */
export class MoveCache {
  private readonly entries = new Map<string, CacheEntry>();
  private primary: { readonly providerId: string; readonly keyRef: string } | undefined;

  constructor(private readonly maxEntries: number) {}

  get size(): number {
    return this.entries.size;
  }

  /** Binds the cache to the keyring's primary on first use; throws for another primary after. */
  bind(keyring: Keyring): void {
    const { providerId, keyRef } = keyring.primary;
    if (this.primary === undefined) {
      this.primary = { providerId, keyRef };
      return;
    }
    if (this.primary.providerId !== providerId || this.primary.keyRef !== keyRef) {
      throw new CmekConfigError(
        `this rewrap cache holds DEKs moved to '${this.primary.providerId}' key '${this.primary.keyRef}', not to the keyring's primary '${providerId}' key '${keyRef}': use one createRewrapCache() per primary`,
      );
    }
  }

  get(kekText: string): CacheEntry | undefined {
    return this.entries.get(kekText);
  }

  set(kekText: string, entry: CacheEntry): void {
    this.entries.delete(kekText);
    this.entries.set(kekText, entry);
    while (this.entries.size > this.maxEntries) {
      this.entries.delete(this.entries.keys().next().value as string);
    }
  }

  /** Drops the entry of `kekText` if it is still the one holding `outcome`. */
  forget(kekText: string, outcome: Promise<MoveOutcome>): void {
    if (this.entries.get(kekText)?.outcome === outcome) this.entries.delete(kekText);
  }
}

/** A cache of moved DEKs that several `rewrap` calls share (e.g. one per rotation run). */
export function createRewrapCache(options: RewrapCacheOptions = {}): RewrapCache {
  if (typeof options !== 'object' || options === null) {
    throw new CmekConfigError('createRewrapCache takes { maxEntries? }');
  }
  const cache = new MoveCache(positiveInteger(options.maxEntries, 100_000, 'maxEntries'));
  const handle: RewrapCache = {
    get size() {
      return cache.size;
    },
  };
  Object.defineProperty(handle, REWRAP_CACHE, { value: cache });
  return handle;
}

/** The entries behind a `RewrapCache`; throws `CmekConfigError` for anything else. */
export function moveCacheOf(value: unknown): MoveCache {
  const cache =
    typeof value === 'object' && value !== null
      ? (value as Record<symbol, unknown>)[REWRAP_CACHE]
      : undefined;
  if (!(cache instanceof MoveCache)) {
    throw new CmekConfigError('rewrap cache must come from createRewrapCache');
  }
  return cache;
}
