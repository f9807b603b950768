/**
 * The tenants of a tenant envelope: an LRU of resolved KEKs and their inner envelopes, with size
 * and age limits, one resolve call for concurrent first uses of a tenant, and a dropped entry's
 * inner envelope closed (its DEKs zeroed) once the calls using it have ended.
 */
import type { CacheStats } from './cache-events';
import type { Envelope } from './envelope-types';
import type { Keyring } from './keyring';
import type { KekProvider } from './provider';
import { sumCaches } from './tenant-types';

export interface TenantEntry {
  readonly tenant: string;
  readonly envelope: Envelope;
  readonly keyring: Keyring;
  /** The resolver's KEK, handed to `release` when dropped; `undefined` for the default KEK. */
  readonly owned: KekProvider | Keyring | undefined;
  readonly created: number;
  /** Calls using the entry now. */
  active: number;
  /** Dropped from the cache: closed when `active` falls to 0. */
  retired: boolean;
  closing?: Promise<void>;
}

export interface TenantCacheLimits {
  readonly maxTenants: number;
  readonly maxAgeMs: number;
}

export class TenantCache {
  private readonly entries = new Map<string, TenantEntry>();
  private readonly pending = new Map<string, Promise<TenantEntry>>();
  /** Bumped by `forget`: a resolve that started before is not cached. */
  private readonly generations = new Map<string, number>();
  /** Hits and misses of closed entries, so the summed counts never go down. */
  private dropped: CacheStats[] = [];
  private closed = false;

  constructor(
    private readonly limits: TenantCacheLimits,
    private readonly create: (tenant: string) => Promise<TenantEntry>,
    private readonly release: (entry: TenantEntry) => Promise<void>,
  ) {}

  /** The tenant's entry, counted as in use until `done(entry)`. */
  async acquire(tenant: string): Promise<TenantEntry> {
    const held = this.entries.get(tenant);
    if (held !== undefined) {
      if (performance.now() - held.created < this.limits.maxAgeMs) {
        this.entries.delete(tenant);
        this.entries.set(tenant, held);
        held.active++;
        return held;
      }
      this.drop(held);
    }
    let flight = this.pending.get(tenant);
    if (flight === undefined) {
      const generation = this.generations.get(tenant) ?? 0;
      flight = this.create(tenant).then((entry) => {
        if (!this.closed && (this.generations.get(tenant) ?? 0) === generation) {
          this.entries.set(tenant, entry);
          this.trim();
        } else entry.retired = true;
        return entry;
      });
      this.pending.set(tenant, flight);
      const clear = (): void => {
        if (this.pending.get(tenant) === flight) this.pending.delete(tenant);
      };
      flight.then(clear, clear);
    }
    const entry = await flight;
    entry.active++;
    return entry;
  }

  /** Ends one use of `entry`; closes it if it was dropped meanwhile and no call uses it. */
  done(entry: TenantEntry): void {
    entry.active--;
    if (entry.retired && entry.active === 0) void this.close(entry);
  }

  /** Drops a tenant now: a resolve under way is not cached either. */
  async forget(tenant: string): Promise<void> {
    this.generations.set(tenant, (this.generations.get(tenant) ?? 0) + 1);
    const held = this.entries.get(tenant);
    if (held === undefined) return;
    this.drop(held);
    if (held.active === 0) await held.closing;
  }

  /** The tenants held now, least recently used first. */
  held(): TenantEntry[] {
    return [...this.entries.values()];
  }

  droppedStats(): readonly CacheStats[] {
    return this.dropped;
  }

  async closeAll(): Promise<void> {
    this.closed = true;
    const all = [...this.entries.values()];
    this.entries.clear();
    // In-flight calls end with `CmekClosedError`, as with a plain envelope's `close()`.
    await Promise.all(
      all.map((entry) => {
        entry.retired = true;
        return this.close(entry);
      }),
    );
    await Promise.allSettled([...this.pending.values()]);
  }

  private drop(entry: TenantEntry): void {
    if (this.entries.get(entry.tenant) === entry) this.entries.delete(entry.tenant);
    entry.retired = true;
    if (entry.active === 0) void this.close(entry);
  }

  private trim(): void {
    while (this.entries.size > this.limits.maxTenants) {
      const oldest = this.entries.values().next().value as TenantEntry;
      this.drop(oldest);
    }
  }

  private close(entry: TenantEntry): Promise<void> {
    entry.closing ??= (async () => {
      try {
        this.dropped = sumCaches([this.dropped, entry.envelope.stats().caches]).map((c) => ({
          ...c,
          size: 0,
        }));
      } catch {
        // Already closed: its counts were taken then.
      }
      await entry.envelope.close();
      await this.release(entry);
    })();
    return entry.closing;
  }
}
