/**
 * The write-side DEK cache: one DEK serves many values until `maxUses` or `maxAgeMs`, whichever
 * comes first. Concurrent misses share one in-flight `generateDataKey` call (single flight).
 * Callers receive a private copy of the DEK and zero it when done; the cached DEK is zeroed when
 * it is retired.
 */
import { encodeB64url } from './base64url';
import type { DekCacheOptions } from './envelope-types';
import type { Emit } from './kek-calls';
import { generateDataKey } from './kek-calls';
import type { KekProvider } from './provider';
import { encodeRecord } from './record';

interface Entry {
  readonly dek: Buffer;
  readonly kekText: string;
  readonly createdAt: number;
  uses: number;
}

export interface Lease {
  /** A private copy: the caller zeroes it. */
  readonly dek: Buffer;
  readonly kekText: string;
  /** How many values this lease may encrypt. */
  readonly uses: number;
}

export class WriteDekCache {
  private entry: Entry | undefined;
  private pending: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly provider: KekProvider,
    private readonly emit: Emit,
    private readonly limits: Required<DekCacheOptions> | false,
    /** Told of every new DEK (a copy it owns), so the read side can open fresh values for free. */
    private readonly onGenerated: (kekText: string, dek: Buffer) => void = () => undefined,
  ) {}

  /** A lease from the cached DEK without awaiting anything, or `undefined` if there is none. */
  tryLease(wanted: number): Lease | undefined {
    const entry = this.usable();
    if (entry === undefined) return undefined;
    this.event('cache-hit');
    return this.take(entry, wanted);
  }

  /** A DEK for up to `wanted` values (at least one). */
  async lease(wanted: number): Promise<Lease> {
    for (;;) {
      const entry = this.usable();
      if (entry !== undefined) {
        this.event('cache-hit');
        return this.take(entry, wanted);
      }
      if (this.limits === false) {
        this.event('cache-miss');
        const fresh = await this.generate();
        return { dek: fresh.dek, kekText: fresh.kekText, uses: wanted };
      }
      if (this.pending === undefined) {
        this.event('cache-miss');
        this.pending = this.generate()
          .then((fresh) => {
            this.retire();
            if (this.closed) fresh.dek.fill(0);
            else this.entry = fresh;
          })
          .finally(() => {
            this.pending = undefined;
          });
      }
      // Every caller waiting on the shared call gets its error; on success, loop and take a use
      // (the callers that were first may already have used the new DEK up).
      await this.pending;
    }
  }

  /** Zeroes the cached DEK for good (the envelope is closing). */
  close(): void {
    this.closed = true;
    this.retire();
  }

  private usable(): Entry | undefined {
    const entry = this.entry;
    if (entry === undefined || this.limits === false) return undefined;
    if (entry.uses >= this.limits.maxUses || Date.now() - entry.createdAt >= this.limits.maxAgeMs) {
      this.retire();
      return undefined;
    }
    return entry;
  }

  private take(entry: Entry, wanted: number): Lease {
    const max = this.limits === false ? wanted : this.limits.maxUses - entry.uses;
    const uses = Math.max(1, Math.min(wanted, max));
    entry.uses += uses;
    return { dek: Buffer.from(entry.dek), kekText: entry.kekText, uses };
  }

  private async generate(): Promise<Entry> {
    const { dek, wrapped } = await generateDataKey(this.emit, this.provider);
    const kekText = encodeB64url(
      encodeRecord(this.provider.providerId, this.provider.keyRef, wrapped),
    );
    this.onGenerated(kekText, Buffer.from(dek));
    return { dek, kekText, createdAt: Date.now(), uses: 0 };
  }

  private retire(): void {
    this.entry?.dek.fill(0);
    this.entry = undefined;
  }

  private event(type: 'cache-hit' | 'cache-miss'): void {
    if (this.limits === false) return;
    this.emit({
      type,
      cache: 'encrypt',
      providerId: this.provider.providerId,
      keyRef: this.provider.keyRef,
    });
  }
}
