/**
 * The write-side DEK cache: one DEK serves many values until `maxUses` or `maxAgeMs`, whichever
 * comes first. Concurrent misses share one in-flight `generateDataKey` call (single flight).
 *
 * Salt reuse (SPEC §3, revision 2): a cached DEK keeps one salt per context, drawn the first time
 * the DEK encrypts under that context, with the value key derived from it; at most `maxContexts`
 * of them, the oldest zeroed first. The DEK and every value key are zeroed when the DEK is
 * retired (used up, too old, replaced) and on close. Callers use a lease synchronously, right
 * after they get it, and never keep the key material.
 *
 * Stale grace (`staleGraceMs`, default 0): a DEK past `maxAgeMs` (never past `maxUses`) is kept
 * that much longer; a new DEK is asked for first, and only when the KEK answers
 * `CMEK_KEK_UNAVAILABLE` is the old one leased again, with a `stale-dek-used` event.
 */
import { encodeB64url } from './base64url';
import { allowsStale, type CacheStats, emitEvicted, Lookups } from './cache-events';
import type { CanonicalContext } from './context';
import type { DekCacheOptions } from './envelope-types';
import type { EvictionReason } from './events';
import { deriveValueKey, type FernetKey, fernetKey, SALT_LENGTH } from './fernet';
import { generateDataKey, type KekChannel } from './kek-calls';
import type { KekProvider } from './provider';
import { randomBytesFromPool } from './random-pool';
import { type DekRecord, encodeRecord } from './record';
import { TOKEN_PREFIX } from './token';

/** The salt and value key a DEK uses for one context. */
export interface ContextKey extends FernetKey {
  /** `cmek:v1:<kek>|<salt>|`: every token of this DEK and context starts with it. */
  readonly head: string;
}

export interface WriteEntry {
  readonly dek: Buffer;
  readonly kekText: string;
  readonly createdAt: number;
  uses: number;
  /** By the context's canonical key; insertion order is the eviction order. */
  readonly keys: Map<string, ContextKey>;
}

export interface Lease {
  /** The DEK to encrypt with, now; its bytes belong to the cache. */
  readonly entry: WriteEntry;
  /** How many values this lease may encrypt. */
  readonly uses: number;
  /** `true` for a DEK outside the cache (`dekCache: false`): `release` zeroes it. */
  readonly owned: boolean;
}

export type WriteCacheLimits = Required<Omit<DekCacheOptions, 'saltPerValue' | 'staleGraceMs'>> & {
  readonly staleGraceMs?: number;
};

/** Told of every new DEK and value key (copies it owns), so the read side opens fresh values for free. */
export interface WriteCacheListener {
  onDek(kekText: string, dek: Buffer, record: DekRecord): void;
  onValueKey(kekText: string, saltText: string, canonKey: string, vk: Buffer): void;
}

const NO_LISTENER: WriteCacheListener = {
  onDek: (_kekText, dek) => dek.fill(0),
  onValueKey: (_kekText, _saltText, _canonKey, vk) => vk.fill(0),
};

export class WriteDekCache {
  private entry: WriteEntry | undefined;
  private pending: Promise<void> | undefined;
  private closed = false;
  private readonly graceMs: number;
  /** One lookup per lease (a hit) or per shared `generateDataKey` (a miss). */
  readonly lookups = new Lookups();

  constructor(
    private readonly provider: KekProvider,
    private readonly kek: KekChannel,
    private readonly limits: WriteCacheLimits | false,
    private readonly listener: WriteCacheListener = NO_LISTENER,
    /** Off: no cache event objects are built (nobody listens); the counts are kept. */
    private readonly reporting = true,
  ) {
    this.graceMs = limits === false ? 0 : (limits.staleGraceMs ?? 0);
  }

  /** A lease from the cached DEK without awaiting anything, or `undefined` if there is none. */
  tryLease(wanted: number): Lease | undefined {
    const entry = this.usable();
    if (entry === undefined) return undefined;
    this.event('cache-hit');
    return this.take(entry, wanted);
  }

  /**
   * On a miss: with the cache off, a fresh DEK of its own (the caller releases it); else waits for
   * the shared `generateDataKey` call and resolves `undefined`: the caller asks `tryLease` again
   * (the callers that were first may already have used the new DEK up).
   */
  async acquire(wanted: number): Promise<Lease | undefined> {
    if (this.limits === false) {
      const entry = await this.generate();
      return { entry, uses: wanted, owned: true };
    }
    if (this.usable() !== undefined) return undefined;
    if (this.pending === undefined) {
      this.event('cache-miss');
      this.pending = this.generate()
        .then((fresh) => {
          // The DEK kept for its grace, if any, is replaced.
          this.retire('expired');
          if (this.closed) zero(fresh);
          else this.entry = fresh;
        })
        .finally(() => {
          this.pending = undefined;
        });
    }
    try {
      await this.pending;
    } catch (error) {
      // Every caller waiting on the shared call gets its error, or a lease on the stale DEK.
      const stale = this.staleLease(error, wanted);
      if (stale === undefined) throw error;
      return stale;
    }
    return undefined;
  }

  /** Zeroes a lease's DEK if it is not the cache's. */
  release(lease: Lease): void {
    if (lease.owned) zero(lease.entry);
  }

  /**
   * The salt and value key of `entry` for `canon`: drawn and derived the first time, then reused
   * while the DEK is cached (and for the whole batch of an owned lease).
   */
  keyFor(entry: WriteEntry, canon: CanonicalContext): ContextKey {
    const known = entry.keys.get(canon.key);
    if (known !== undefined) return known;
    const salt = randomBytesFromPool(SALT_LENGTH);
    const vk = deriveValueKey(entry.dek, salt, canon.bytes);
    const saltText = encodeB64url(salt);
    const fresh: ContextKey = {
      ...fernetKey(vk),
      head: `${TOKEN_PREFIX}${entry.kekText}|${saltText}|`,
    };
    const max = this.limits === false ? Number.POSITIVE_INFINITY : this.limits.maxContexts;
    while (entry.keys.size >= max) {
      const [oldestKey, oldest] = entry.keys.entries().next().value as [string, ContextKey];
      oldest.vk.fill(0);
      entry.keys.delete(oldestKey);
    }
    entry.keys.set(canon.key, fresh);
    this.listener.onValueKey(entry.kekText, saltText, canon.key, Buffer.from(vk));
    return fresh;
  }

  /** Zeroes the cached DEK for good (the envelope is closing). */
  close(): void {
    this.closed = true;
    this.retire('close');
  }

  /** Zeroes the cached DEK if it is under this key reference (the KEK refused access to it). */
  evictKek(providerId: string, keyRef: string, reason: EvictionReason): void {
    if (this.provider.providerId === providerId && this.provider.keyRef === keyRef) {
      this.retire(reason);
    }
  }

  /** Whether the cached DEK can still encrypt (fresh, or within its stale grace). */
  serving(): boolean {
    const entry = this.entry;
    if (entry === undefined || this.limits === false) return false;
    const age = Date.now() - entry.createdAt;
    return entry.uses < this.limits.maxUses && age < this.limits.maxAgeMs + this.graceMs;
  }

  stats(): CacheStats {
    return this.lookups.stats('encrypt', this.entry === undefined ? 0 : 1);
  }

  private usable(): WriteEntry | undefined {
    const entry = this.entry;
    if (entry === undefined || this.limits === false) return undefined;
    if (entry.uses >= this.limits.maxUses) {
      this.retire('uses');
      return undefined;
    }
    const age = Date.now() - entry.createdAt;
    if (age >= this.limits.maxAgeMs) {
      // Kept for its grace: leased again only if the KEK is unavailable (`staleLease`).
      if (age >= this.limits.maxAgeMs + this.graceMs) this.retire('expired');
      return undefined;
    }
    return entry;
  }

  /** A lease on the DEK past its age, within its grace and its uses, for an unavailable KEK. */
  private staleLease(error: unknown, wanted: number): Lease | undefined {
    const entry = this.entry;
    if (entry === undefined || this.limits === false || this.graceMs === 0) return undefined;
    if (!allowsStale(error) || entry.uses >= this.limits.maxUses) return undefined;
    const overAgeMs = Date.now() - entry.createdAt - this.limits.maxAgeMs;
    if (overAgeMs >= this.graceMs) return undefined;
    if (this.reporting && overAgeMs >= 0) {
      const { providerId, keyRef } = this.provider;
      this.kek.emit({ type: 'stale-dek-used', cache: 'encrypt', providerId, keyRef, overAgeMs });
    }
    return this.take(entry, wanted);
  }

  private take(entry: WriteEntry, wanted: number): Lease {
    const max = this.limits === false ? wanted : this.limits.maxUses - entry.uses;
    const uses = Math.max(1, Math.min(wanted, max));
    entry.uses += uses;
    return { entry, uses, owned: false };
  }

  private async generate(): Promise<WriteEntry> {
    const { dek, wrapped } = await generateDataKey(this.kek, this.provider);
    const { providerId, keyRef } = this.provider;
    const kekText = encodeB64url(encodeRecord(providerId, keyRef, wrapped));
    this.listener.onDek(kekText, Buffer.from(dek), { providerId, keyRef, wrapped });
    return { dek, kekText, createdAt: Date.now(), uses: 0, keys: new Map() };
  }

  private retire(reason: EvictionReason): void {
    const entry = this.entry;
    if (entry === undefined) return;
    zero(entry);
    this.entry = undefined;
    if (this.reporting) emitEvicted(this.kek.emit, 'encrypt', reason, this.provider);
  }

  private event(type: 'cache-hit' | 'cache-miss'): void {
    if (this.limits === false) return;
    if (type === 'cache-hit') this.lookups.hits++;
    else this.lookups.misses++;
    if (!this.reporting) return;
    this.kek.emit({
      type,
      cache: 'encrypt',
      providerId: this.provider.providerId,
      keyRef: this.provider.keyRef,
    });
  }
}

function zero(entry: WriteEntry): void {
  entry.dek.fill(0);
  for (const key of entry.keys.values()) key.vk.fill(0);
  entry.keys.clear();
}
