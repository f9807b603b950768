/**
 * The read-side cache: an LRU of unwrapped DEKs keyed by the token's `kek` part (the wrapped-DEK
 * record), bounded by `maxEntries` and `maxAgeMs`, each with its decoded record. Beside it an LRU
 * of value keys keyed by (kek part, salt part, canon(context)) under the same limits (SPEC §3,
 * revision 2): at most `maxEntries` of them, each dropped with its DEK. Every DEK and value key is
 * zeroed when evicted, expired, replaced and on close.
 *
 * Concurrent misses for the same record share one unwrap; the misses of one batch are unwrapped
 * together, one `unwrapMany` per provider where the provider has it.
 *
 * Stale grace (`staleGraceMs`, default 0): an entry past `maxAgeMs` is kept that much longer; it
 * is not a hit (the DEK is unwrapped again), but when the KEK answers `CMEK_KEK_UNAVAILABLE` it
 * is used, with a `stale-dek-used` event. An access-denied answer drops every entry of its key
 * reference (`evictKek`).
 */
import { allowsStale, type CacheStats, emitEvicted, Lookups } from './cache-events';
import type { CanonicalContext } from './context';
import type { DecryptCacheOptions } from './envelope-types';
import type { EvictionReason } from './events';
import { deriveValueKey, type FernetKey, fernetKey } from './fernet';
import { type KekChannel, unwrapMany } from './kek-calls';
import type { Keyring } from './keyring';
import type { KekProvider } from './provider';
import type { DekRecord } from './record';

/** The length of every salt part (16 bytes, unpadded base64url): the value-key map's keys rely on it. */
export const SALT_TEXT_LENGTH = 22;

export type ReadCacheLimits = Required<Omit<DecryptCacheOptions, 'staleGraceMs'>> & {
  readonly staleGraceMs?: number;
};

/** What a finished unwrap flight tells the calls that waited on it: the kek parts served stale. */
type Flight = Promise<ReadonlySet<string>>;
const NONE_STALE: ReadonlySet<string> = new Set();

export interface ReadEntry {
  readonly kekText: string;
  readonly dek: Buffer;
  readonly record: DekRecord;
  readonly expiresAt: number;
  /** By salt part + canonical context key (the salt part has a fixed length). */
  readonly keys: Map<string, ValueKey>;
}

interface ValueKey {
  readonly vk: Buffer;
  readonly key: FernetKey;
  readonly owner: ReadEntry;
  /** `saltText + canonKey`: the key in `owner.keys`. */
  readonly mapKey: string;
  readonly saltText: string;
  readonly canonKey: string;
}

export class ReadDekCache {
  private readonly entries = new Map<string, ReadEntry>();
  /** Every cached value key, least recently used first. */
  private readonly valueKeys = new Set<ValueKey>();
  private readonly inFlight = new Map<string, Flight>();
  private newest: ReadEntry | undefined;
  private newestValueKey: ValueKey | undefined;
  private closed = false;
  private readonly graceMs: number;
  /** DEK lookups (one per record and call) and value-key lookups (one per value on a hit). */
  readonly lookups = new Lookups();
  readonly valueKeyLookups = new Lookups();

  constructor(
    private readonly keyring: Keyring,
    private readonly kek: KekChannel,
    private readonly limits: ReadCacheLimits | false,
    /** Off: no cache event objects are built (nobody listens); the counts are kept. */
    private readonly reporting = true,
  ) {
    this.graceMs = limits === false ? 0 : (limits.staleGraceMs ?? 0);
  }

  /**
   * The DEKs of the given records, as private copies the caller must zero. Throws the error of the
   * first record that cannot be opened (unknown KEK, denied, unavailable, decryption).
   */
  async resolve(records: ReadonlyMap<string, DekRecord>): Promise<Map<string, Buffer>> {
    const result = new Map<string, Buffer>();
    const pending = new Map(records);
    try {
      while (pending.size > 0) {
        const waits: Promise<void>[] = [];
        const misses = new Map<KekProvider, [string, DekRecord][]>();
        for (const [kekText, record] of pending) {
          const provider = this.keyring.resolve(record.providerId, record.keyRef);
          const hit = this.hit(kekText);
          if (hit !== undefined) {
            this.reportHit(record);
            result.set(kekText, Buffer.from(hit.dek));
            pending.delete(kekText);
            continue;
          }
          const flight = this.inFlight.get(kekText);
          if (flight !== undefined) {
            // Another call is unwrapping this DEK: wait for it, then look in the cache again
            // (or use the stale DEK it used, the KEK being unavailable).
            waits.push(
              flight.then((stale) => {
                const entry = stale.has(kekText) ? this.staleEntry(kekText) : undefined;
                if (entry === undefined) return;
                this.useStale(entry, result);
                pending.delete(kekText);
              }),
            );
            continue;
          }
          this.event('cache-miss', record);
          const list = misses.get(provider) ?? [];
          list.push([kekText, record]);
          misses.set(provider, list);
          pending.delete(kekText);
        }
        for (const [provider, list] of misses) {
          waits.push(this.unwrapBatch(provider, list, result).then(() => undefined));
        }
        const outcomes = await Promise.allSettled(waits);
        const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
        if (failed !== undefined) throw failed.reason;
      }
      return result;
    } catch (error) {
      for (const dek of result.values()) dek.fill(0);
      throw error;
    }
  }

  /**
   * The cached entry of a kek part, marked as used, or `undefined` (not cached, expired, caching
   * off). Synchronous; reports nothing (the caller reports one hit per record and batch). A hit
   * proves the kek part well formed: only decoded or self-made records are stored.
   */
  hit(kekText: string): ReadEntry | undefined {
    if (this.limits === false) return undefined;
    const entry = this.entries.get(kekText);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.expire(entry);
      return undefined;
    }
    if (this.newest !== entry) {
      this.entries.delete(kekText);
      this.entries.set(kekText, entry);
      this.newest = entry;
    }
    return entry;
  }

  /**
   * The cached entry of the kek part `token.slice(start, end)`, as `hit` does; the entry used last
   * is compared in place, without cutting and hashing the kek part.
   */
  hitIn(token: string, start: number, end: number): ReadEntry | undefined {
    const last = this.newest;
    if (
      last !== undefined &&
      last.kekText.length === end - start &&
      token.startsWith(last.kekText, start)
    ) {
      if (last.expiresAt > Date.now()) return last;
      this.expire(last);
      return undefined;
    }
    return this.hit(token.slice(start, end));
  }

  /**
   * The cached value key for a salt part and context, or `undefined`. `countMiss: false` for a
   * caller that, on a miss, hands the token to one that looks again (and counts it then).
   */
  cachedValueKey(
    entry: ReadEntry,
    saltText: string,
    canon: CanonicalContext,
    countMiss = true,
  ): FernetKey | undefined {
    const last = this.newestValueKey;
    if (
      last !== undefined &&
      last.owner === entry &&
      last.saltText === saltText &&
      last.canonKey === canon.key
    ) {
      this.valueKeyLookup('cache-hit', entry.record);
      return last.key;
    }
    const found =
      saltText.length === SALT_TEXT_LENGTH ? entry.keys.get(saltText + canon.key) : undefined;
    if (found === undefined) {
      if (countMiss) this.valueKeyLookup('cache-miss', entry.record);
      return undefined;
    }
    this.valueKeyLookup('cache-hit', entry.record);
    this.valueKeys.delete(found);
    this.valueKeys.add(found);
    this.newestValueKey = found;
    return found.key;
  }

  /**
   * Derives the value key of `entry`'s DEK for a decoded (16-byte) salt and keeps it; the key
   * belongs to the cache (the caller must not zero or keep it).
   */
  deriveValueKey(
    entry: ReadEntry,
    saltText: string,
    salt: Buffer,
    canon: CanonicalContext,
  ): FernetKey {
    const vk = deriveValueKey(entry.dek, salt, canon.bytes);
    return this.keep(entry, saltText, canon.key, vk);
  }

  /** A value key the writer derived for a DEK it also stored here (a copy the cache now owns). */
  storeValueKey(kekText: string, saltText: string, canonKey: string, vk: Buffer): void {
    const entry = this.limits === false ? undefined : this.entries.get(kekText);
    if (entry === undefined || saltText.length !== SALT_TEXT_LENGTH || this.closed) {
      vk.fill(0);
      return;
    }
    this.keep(entry, saltText, canonKey, vk);
  }

  /** The entry of a kek part if it is cached, without marking it used. */
  peek(kekText: string): ReadEntry | undefined {
    const entry = this.limits === false ? undefined : this.entries.get(kekText);
    return entry !== undefined && entry.expiresAt > Date.now() ? entry : undefined;
  }

  /** Counts (and reports, if anyone listens) one hit of a record's DEK. */
  reportHit(record: DekRecord): void {
    this.event('cache-hit', record);
  }

  close(): void {
    this.closed = true;
    this.evictAll([...this.entries.values()], 'close');
  }

  /** Drops every entry of a key reference (the KEK refused access to it). */
  evictKek(providerId: string, keyRef: string, reason: EvictionReason): void {
    const of = [...this.entries.values()].filter(
      (e) => e.record.providerId === providerId && e.record.keyRef === keyRef,
    );
    this.evictAll(of, reason);
  }

  /** Whether some entry can still open values (fresh, or within its stale grace). */
  serving(): boolean {
    const now = Date.now();
    for (const entry of this.entries.values()) {
      if (entry.expiresAt + this.graceMs > now) return true;
    }
    return false;
  }

  stats(): [CacheStats, CacheStats] {
    return [
      this.lookups.stats('decrypt', this.entries.size),
      this.valueKeyLookups.stats('value-key', this.valueKeys.size),
    ];
  }

  /** Keeps the DEK (owned by the cache from now on) or zeroes it if caching is off. */
  store(kekText: string, dek: Buffer, record: DekRecord): void {
    if (this.limits === false || this.closed) {
      dek.fill(0);
      return;
    }
    const previous = this.entries.get(kekText);
    if (previous !== undefined) {
      // A DEK unwrapped again once past its age (kept for its grace) is its expiry.
      if (previous.expiresAt <= Date.now()) this.evict(previous, 'expired');
      else this.drop(previous);
    }
    const entry: ReadEntry = {
      kekText,
      dek,
      record,
      expiresAt: Date.now() + this.limits.maxAgeMs,
      keys: new Map(),
    };
    this.entries.set(kekText, entry);
    this.newest = entry;
    while (this.entries.size > this.limits.maxEntries) {
      this.evict(this.entries.values().next().value as ReadEntry, 'capacity');
    }
  }

  private keep(entry: ReadEntry, saltText: string, canonKey: string, vk: Buffer): FernetKey {
    const key = fernetKey(vk);
    if (this.limits === false) return key;
    const mapKey = saltText + canonKey;
    const previous = entry.keys.get(mapKey);
    if (previous !== undefined) this.forget(previous);
    const valueKey: ValueKey = { vk, key, owner: entry, mapKey, saltText, canonKey };
    entry.keys.set(mapKey, valueKey);
    this.valueKeys.add(valueKey);
    this.newestValueKey = valueKey;
    while (this.valueKeys.size > this.limits.maxEntries) {
      const oldest = this.valueKeys.values().next().value as ValueKey;
      this.forget(oldest);
      if (this.reporting) emitEvicted(this.kek.emit, 'value-key', 'capacity', oldest.owner.record);
    }
    return key;
  }

  private forget(valueKey: ValueKey): void {
    valueKey.vk.fill(0);
    valueKey.owner.keys.delete(valueKey.mapKey);
    this.valueKeys.delete(valueKey);
    if (this.newestValueKey === valueKey) this.newestValueKey = undefined;
  }

  /** Zeroes a DEK and its value keys and forgets them; returns how many value keys went. */
  private drop(entry: ReadEntry): number {
    const keys = entry.keys.size;
    for (const valueKey of [...entry.keys.values()]) this.forget(valueKey);
    entry.dek.fill(0);
    if (this.entries.get(entry.kekText) === entry) this.entries.delete(entry.kekText);
    if (this.newest === entry) this.newest = undefined;
    return keys;
  }

  /** `drop`, reported. */
  private evict(entry: ReadEntry, reason: EvictionReason): void {
    const keys = this.drop(entry);
    if (!this.reporting) return;
    emitEvicted(this.kek.emit, 'decrypt', reason, entry.record);
    emitEvicted(this.kek.emit, 'value-key', reason, entry.record, keys);
  }

  /** Drops entries, reported as one event per key reference and cache. */
  private evictAll(entries: readonly ReadEntry[], reason: EvictionReason): void {
    const byKek = new Map<string, { record: DekRecord; deks: number; keys: number }>();
    for (const entry of entries) {
      const keys = this.drop(entry);
      if (!this.reporting) continue;
      const id = `${entry.record.providerId}\u0000${entry.record.keyRef}`;
      const sum = byKek.get(id) ?? { record: entry.record, deks: 0, keys: 0 };
      sum.deks++;
      sum.keys += keys;
      byKek.set(id, sum);
    }
    for (const { record, deks, keys } of byKek.values()) {
      emitEvicted(this.kek.emit, 'decrypt', reason, record, deks);
      emitEvicted(this.kek.emit, 'value-key', reason, record, keys);
    }
  }

  /** An entry past its age: dropped once past its grace too, else kept for an unavailable KEK. */
  private expire(entry: ReadEntry): void {
    if (entry.expiresAt + this.graceMs <= Date.now()) this.evict(entry, 'expired');
  }

  /** The entry of a kek part that may still serve: fresh, or past its age within its grace. */
  private staleEntry(kekText: string): ReadEntry | undefined {
    const entry = this.limits === false ? undefined : this.entries.get(kekText);
    return entry !== undefined && entry.expiresAt + this.graceMs > Date.now() ? entry : undefined;
  }

  /** Gives a copy of an entry's DEK to a call the KEK could not serve. */
  private useStale(entry: ReadEntry, result: Map<string, Buffer>): void {
    result.set(entry.kekText, Buffer.from(entry.dek));
    const overAgeMs = Date.now() - entry.expiresAt;
    if (!this.reporting || overAgeMs < 0) return;
    const { providerId, keyRef } = entry.record;
    this.kek.emit({ type: 'stale-dek-used', cache: 'decrypt', providerId, keyRef, overAgeMs });
  }

  private unwrapBatch(
    provider: KekProvider,
    list: [string, DekRecord][],
    result: Map<string, Buffer>,
  ): Flight {
    const items = list.map(([, record]) => ({ wrapped: record.wrapped, keyRef: record.keyRef }));
    const flight = unwrapMany(this.kek, provider, items)
      .then(
        (deks) => {
          deks.forEach((dek, i) => {
            const [kekText, record] = list[i]!;
            result.set(kekText, Buffer.from(dek));
            this.store(kekText, dek, record);
          });
          return NONE_STALE;
        },
        (error: unknown) => {
          // Only an unavailable KEK, and only if every DEK of the call is still within its grace.
          if (!allowsStale(error) || this.graceMs === 0) throw error;
          const entries = list.map(([kekText]) => this.staleEntry(kekText));
          if (entries.some((entry) => entry === undefined)) throw error;
          for (const entry of entries) this.useStale(entry!, result);
          return new Set(list.map(([kekText]) => kekText));
        },
      )
      .finally(() => {
        for (const [kekText] of list) this.inFlight.delete(kekText);
      });
    for (const [kekText] of list) this.inFlight.set(kekText, flight);
    return flight;
  }

  private event(type: 'cache-hit' | 'cache-miss', record: DekRecord): void {
    if (this.limits === false) return;
    if (type === 'cache-hit') this.lookups.hits++;
    else this.lookups.misses++;
    if (!this.reporting) return;
    const { providerId, keyRef } = record;
    this.kek.emit({ type, cache: 'decrypt', providerId, keyRef });
  }

  private valueKeyLookup(type: 'cache-hit' | 'cache-miss', record: DekRecord): void {
    if (type === 'cache-hit') this.valueKeyLookups.hits++;
    else this.valueKeyLookups.misses++;
    if (!this.reporting) return;
    const { providerId, keyRef } = record;
    this.kek.emit({ type, cache: 'value-key', providerId, keyRef });
  }
}
