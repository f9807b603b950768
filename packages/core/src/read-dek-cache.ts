/**
 * The read-side cache: an LRU of unwrapped DEKs keyed by the token's `kek` part (the wrapped-DEK
 * record), bounded by `maxEntries` and `maxAgeMs`. DEKs are zeroed when evicted and on close.
 * Concurrent misses for the same record share one unwrap; the misses of one batch are unwrapped
 * together, one `unwrapMany` per provider where the provider has it.
 */
import type { DecryptCacheOptions } from './envelope-types';
import type { Emit } from './kek-calls';
import { unwrapMany } from './kek-calls';
import type { Keyring } from './keyring';
import type { KekProvider } from './provider';
import type { DekRecord } from './record';

interface Entry {
  readonly dek: Buffer;
  readonly expiresAt: number;
}

export class ReadDekCache {
  private readonly entries = new Map<string, Entry>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private closed = false;

  constructor(
    private readonly keyring: Keyring,
    private readonly emit: Emit,
    private readonly limits: Required<DecryptCacheOptions> | false,
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
          const hit = this.lookup(kekText);
          if (hit !== undefined) {
            this.event('cache-hit', record);
            result.set(kekText, Buffer.from(hit));
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
   * The DEKs (private copies) when every record is in the cache, without awaiting anything; else
   * `undefined` and nothing is touched, and the caller goes through `resolve`.
   */
  cached(records: ReadonlyMap<string, DekRecord>): Map<string, Buffer> | undefined {
    if (this.limits === false) return undefined;
    const now = Date.now();
    for (const kekText of records.keys()) {
      const entry = this.entries.get(kekText);
      if (entry === undefined || entry.expiresAt <= now) return undefined;
    }
    const result = new Map<string, Buffer>();
    for (const [kekText, record] of records) {
      this.event('cache-hit', record);
      result.set(kekText, Buffer.from(this.lookup(kekText)!));
    }
    return result;
  }

  close(): void {
    this.closed = true;
    for (const entry of this.entries.values()) entry.dek.fill(0);
    this.entries.clear();
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
          const kekText = list[i]![0];
          result.set(kekText, Buffer.from(dek));
          this.store(kekText, dek);
        });
      })
      .finally(() => {
        for (const [kekText] of list) this.inFlight.delete(kekText);
      });
    for (const [kekText] of list) this.inFlight.set(kekText, flight);
    return flight;
  }

  private lookup(kekText: string): Buffer | undefined {
    if (this.limits === false) return undefined;
    const entry = this.entries.get(kekText);
    if (entry === undefined) return undefined;
    this.entries.delete(kekText);
    if (entry.expiresAt <= Date.now()) {
      entry.dek.fill(0);
      return undefined;
    }
    this.entries.set(kekText, entry);
    return entry.dek;
  }

  /** Keeps the DEK (owned by the cache from now on) or zeroes it if caching is off. */
  store(kekText: string, dek: Buffer): void {
    if (this.limits === false || this.closed) {
      dek.fill(0);
      return;
    }
    const previous = this.entries.get(kekText);
    if (previous !== undefined) {
      previous.dek.fill(0);
      this.entries.delete(kekText);
    }
    this.entries.set(kekText, { dek, expiresAt: Date.now() + this.limits.maxAgeMs });
    while (this.entries.size > this.limits.maxEntries) {
      const [oldestKey, oldest] = this.entries.entries().next().value as [string, Entry];
      oldest.dek.fill(0);
      this.entries.delete(oldestKey);
    }
  }

  private event(type: 'cache-hit' | 'cache-miss', record: DekRecord): void {
    if (this.limits === false) return;
    this.emit({ type, cache: 'decrypt', providerId: record.providerId, keyRef: record.keyRef });
  }
}
