/**
 * The read-side cache: an LRU of unwrapped DEKs keyed by the token's `kek` part (the wrapped-DEK
 * record), bounded by `maxEntries` and `maxAgeMs`, each with its decoded record. Beside it an LRU
 * of value keys keyed by (kek part, salt part, canon(context)) under the same limits (SPEC §3,
 * revision 2): at most `maxEntries` of them, each dropped with its DEK. Every DEK and value key is
 * zeroed when evicted, expired, replaced and on close.
 *
 * Concurrent misses for the same record share one unwrap; the misses of one batch are unwrapped
 * together, one `unwrapMany` per provider where the provider has it.
 */
import type { CanonicalContext } from './context';
import type { DecryptCacheOptions } from './envelope-types';
import { deriveValueKey, type FernetKey, fernetKey } from './fernet';
import type { Emit } from './kek-calls';
import { unwrapMany } from './kek-calls';
import type { Keyring } from './keyring';
import type { KekProvider } from './provider';
import type { DekRecord } from './record';

/** The length of every salt part (16 bytes, unpadded base64url): the value-key map's keys rely on it. */
export const SALT_TEXT_LENGTH = 22;

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
  private readonly inFlight = new Map<string, Promise<void>>();
  private newest: ReadEntry | undefined;
  private newestValueKey: ValueKey | undefined;
  private closed = false;

  constructor(
    private readonly keyring: Keyring,
    private readonly emit: Emit,
    private readonly limits: Required<DecryptCacheOptions> | false,
    /** Off: no cache-hit / cache-miss event objects are built (nobody listens). */
    private readonly reporting = true,
  ) {}

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
            // Another call is unwrapping this DEK: wait for it, then look in the cache again.
            waits.push(flight);
            continue;
          }
          this.event('cache-miss', record);
          const list = misses.get(provider) ?? [];
          list.push([kekText, record]);
          misses.set(provider, list);
          pending.delete(kekText);
        }
        for (const [provider, list] of misses) waits.push(this.unwrapBatch(provider, list, result));
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
      this.drop(entry);
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
      this.drop(last);
      return undefined;
    }
    return this.hit(token.slice(start, end));
  }

  /** The cached value key for a salt part and context, or `undefined`. */
  cachedValueKey(
    entry: ReadEntry,
    saltText: string,
    canon: CanonicalContext,
  ): FernetKey | undefined {
    const last = this.newestValueKey;
    if (
      last !== undefined &&
      last.owner === entry &&
      last.saltText === saltText &&
      last.canonKey === canon.key
    ) {
      return last.key;
    }
    if (saltText.length !== SALT_TEXT_LENGTH) return undefined;
    const found = entry.keys.get(saltText + canon.key);
    if (found === undefined) return undefined;
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

  reportHit(record: DekRecord): void {
    this.event('cache-hit', record);
  }

  close(): void {
    this.closed = true;
    for (const entry of [...this.entries.values()]) this.drop(entry);
  }

  /** Keeps the DEK (owned by the cache from now on) or zeroes it if caching is off. */
  store(kekText: string, dek: Buffer, record: DekRecord): void {
    if (this.limits === false || this.closed) {
      dek.fill(0);
      return;
    }
    const previous = this.entries.get(kekText);
    if (previous !== undefined) this.drop(previous);
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
      this.drop(this.entries.values().next().value as ReadEntry);
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
      this.forget(this.valueKeys.values().next().value as ValueKey);
    }
    return key;
  }

  private forget(valueKey: ValueKey): void {
    valueKey.vk.fill(0);
    valueKey.owner.keys.delete(valueKey.mapKey);
    this.valueKeys.delete(valueKey);
    if (this.newestValueKey === valueKey) this.newestValueKey = undefined;
  }

  /** Zeroes a DEK and its value keys and forgets them. */
  private drop(entry: ReadEntry): void {
    for (const valueKey of [...entry.keys.values()]) this.forget(valueKey);
    entry.dek.fill(0);
    if (this.entries.get(entry.kekText) === entry) this.entries.delete(entry.kekText);
    if (this.newest === entry) this.newest = undefined;
  }

  private unwrapBatch(
    provider: KekProvider,
    list: [string, DekRecord][],
    result: Map<string, Buffer>,
  ): Promise<void> {
    const items = list.map(([, record]) => ({ wrapped: record.wrapped, keyRef: record.keyRef }));
    const flight = unwrapMany(this.emit, provider, items)
      .then((deks) => {
        deks.forEach((dek, i) => {
          const [kekText, record] = list[i]!;
          result.set(kekText, Buffer.from(dek));
          this.store(kekText, dek, record);
        });
      })
      .finally(() => {
        for (const [kekText] of list) this.inFlight.delete(kekText);
      });
    for (const [kekText] of list) this.inFlight.set(kekText, flight);
    return flight;
  }

  private event(type: 'cache-hit' | 'cache-miss', record: DekRecord): void {
    if (this.limits === false || !this.reporting) return;
    this.emit({ type, cache: 'decrypt', providerId: record.providerId, keyRef: record.keyRef });
  }
}
