/**
 * The write-side DEK cache: one DEK serves many values until `maxUses` or `maxAgeMs`, whichever
 * comes first. Concurrent misses share one in-flight `generateDataKey` call (single flight).
 *
 * Salt reuse (SPEC §3, revision 2): a cached DEK keeps one salt per context, drawn the first time
 * the DEK encrypts under that context, with the value key derived from it; at most `maxContexts`
 * of them, the oldest zeroed first. The DEK and every value key are zeroed when the DEK is
 * retired (used up, too old, replaced) and on close. Callers use a lease synchronously, right
 * after they get it, and never keep the key material.
 */
import { encodeB64url } from './base64url';
import type { CanonicalContext } from './context';
import type { DekCacheOptions } from './envelope-types';
import { deriveValueKey, type FernetKey, fernetKey, SALT_LENGTH } from './fernet';
import type { Emit } from './kek-calls';
import { generateDataKey } from './kek-calls';
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

export type WriteCacheLimits = Required<Omit<DekCacheOptions, 'saltPerValue'>>;

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

  constructor(
    private readonly provider: KekProvider,
    private readonly emit: Emit,
    private readonly limits: WriteCacheLimits | false,
    private readonly listener: WriteCacheListener = NO_LISTENER,
    /** Off: no cache-hit / cache-miss event objects are built (nobody listens). */
    private readonly reporting = true,
  ) {}

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
          this.retire();
          if (this.closed) zero(fresh);
          else this.entry = fresh;
        })
        .finally(() => {
          this.pending = undefined;
        });
    }
    // Every caller waiting on the shared call gets its error.
    await this.pending;
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
    this.retire();
  }

  private usable(): WriteEntry | undefined {
    const entry = this.entry;
    if (entry === undefined || this.limits === false) return undefined;
    if (entry.uses >= this.limits.maxUses || Date.now() - entry.createdAt >= this.limits.maxAgeMs) {
      this.retire();
      return undefined;
    }
    return entry;
  }

  private take(entry: WriteEntry, wanted: number): Lease {
    const max = this.limits === false ? wanted : this.limits.maxUses - entry.uses;
    const uses = Math.max(1, Math.min(wanted, max));
    entry.uses += uses;
    return { entry, uses, owned: false };
  }

  private async generate(): Promise<WriteEntry> {
    const { dek, wrapped } = await generateDataKey(this.emit, this.provider);
    const { providerId, keyRef } = this.provider;
    const kekText = encodeB64url(encodeRecord(providerId, keyRef, wrapped));
    this.listener.onDek(kekText, Buffer.from(dek), { providerId, keyRef, wrapped });
    return { dek, kekText, createdAt: Date.now(), uses: 0, keys: new Map() };
  }

  private retire(): void {
    if (this.entry !== undefined) zero(this.entry);
    this.entry = undefined;
  }

  private event(type: 'cache-hit' | 'cache-miss'): void {
    if (this.limits === false || !this.reporting) return;
    this.emit({
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
