/** The options and interface of `createTenantEnvelope`: one KEK per tenant, one envelope. */
import type { CacheStats, EnvelopeStats } from './cache-events';
import type { EncryptionContext, Envelope, EnvelopeOptions } from './envelope-types';
import type { HealthOptions, HealthReport } from './health';
import type { Keyring } from './keyring';
import type { KekProvider } from './provider';

/**
 * What a resolver answers for a tenant id: its own KEK (a provider, or a keyring during a move:
 * the customer's key as primary, the default one decrypt-only), `'default'` for the envelope's
 * `defaultKek` (still with caches of its own), or `undefined` (or `null`) for a tenant it does
 * not know: its values are refused with `CmekUnknownTenantError`.
 */
export type TenantKek = KekProvider | Keyring | 'default' | undefined | null;

export type TenantResolver = (tenant: string) => TenantKek | Promise<TenantKek>;

export interface TenantCacheOptions {
  /** Tenants whose KEK and inner envelope are kept (least recently used dropped first). Default 1,000. */
  maxTenants?: number;
  /**
   * Age after which a tenant's KEK is resolved again and its inner envelope (its cached DEKs)
   * replaced: the longest a revoked key keeps serving cached DEKs without `forgetTenant`.
   * Default 10 minutes.
   */
  maxAgeMs?: number;
}

export interface TenantEnvelopeOptions extends Omit<EnvelopeOptions, 'kek'> {
  /** The KEK of a tenant id; called once per tenant and cache lifetime (concurrent first uses share it). */
  resolve: TenantResolver;
  /** The KEK a resolver's `'default'` answer maps to; closed by `close()`. */
  defaultKek?: KekProvider | Keyring;
  /** The encryption-context key that holds the tenant id. Default `tenant`. */
  tenantKey?: string;
  cache?: TenantCacheOptions;
  /**
   * Called with a resolved KEK (not the default) when its tenant's entry is dropped (LRU, age,
   * `forgetTenant`, `close`), once no call uses it: close a provider the resolver created for the
   * tenant there. The tenant envelope itself never closes a resolved KEK. A throw is ignored.
   */
  release?: (tenant: string, kek: KekProvider | Keyring) => void | Promise<void>;
}

/** One tenant in `stats()`. */
export interface TenantStats {
  readonly tenant: string;
  readonly caches: readonly CacheStats[];
}

export interface TenantEnvelopeStats extends EnvelopeStats {
  /**
   * The caches summed over the tenants: `size` over the tenants held now, `hits` and `misses`
   * since `createTenantEnvelope` (dropped tenants' counts included, so they never go down).
   */
  readonly caches: readonly CacheStats[];
  /** The tenants held now, each with its own caches, most recently used last. */
  readonly tenants: readonly TenantStats[];
}

export interface TenantHealthOptions extends HealthOptions {
  /** Probe this tenant's primary KEK (resolving it if needed) instead of the default KEK. */
  tenant?: string;
}

export interface TenantHealthReport extends HealthReport {
  /** The tenant probed; absent for the default KEK. */
  readonly tenant?: string;
}

/**
 * An `Envelope` whose every value is under the KEK of the tenant its encryption context names
 * (`context[tenantKey]`): adapters use it as any envelope, with the tenant id in the context.
 */
export interface TenantEnvelope extends Envelope {
  /** The encryption-context key that holds the tenant id. */
  readonly tenantKey: string;
  /**
   * The default KEK's keyring. Throws `CmekConfigError` for an envelope without `defaultKek`:
   * each tenant has its own (`keyringFor`).
   */
  readonly keyring: Keyring;
  /** The tenant id of a context; throws `CmekUnknownTenantError` when it has none. */
  tenantOf(context: EncryptionContext | undefined): string;
  /**
   * The keyring a tenant's values are written and read with (resolved if needed): what `rewrap`
   * (`cmek rotate --tenant`) moves the tenant's DEKs to. Throws `CmekUnknownTenantError` for a
   * tenant the resolver does not know.
   */
  keyringFor(tenant: string): Promise<Keyring>;
  /**
   * Drops a tenant at once: its inner envelope is closed (its DEKs zeroed) as soon as the calls
   * using it end, and its KEK is resolved again on the next use. A revoked key then fails the
   * tenant's next read, without waiting for `maxAgeMs`. A tenant not held is a no-op.
   */
  forgetTenant(tenant: string): Promise<void>;
  /** The caches summed over the tenants, and per tenant. */
  stats(): TenantEnvelopeStats;
  /**
   * Without `tenant`: probes the default KEK (`CmekConfigError` without `defaultKek`), `degraded`
   * when it fails and some tenant's cached DEK still serves. With `tenant`: that tenant's primary
   * KEK and caches. An unknown tenant throws `CmekUnknownTenantError`.
   */
  health(options?: TenantHealthOptions): Promise<TenantHealthReport>;
}

/** The stats of a set of envelopes, summed per cache name (kept in the order first seen). */
export function sumCaches(all: readonly (readonly CacheStats[])[]): CacheStats[] {
  const sums = new Map<string, { -readonly [K in keyof CacheStats]: CacheStats[K] }>();
  for (const caches of all) {
    for (const c of caches) {
      const sum = sums.get(c.cache);
      if (sum === undefined) sums.set(c.cache, { ...c });
      else {
        sum.size += c.size;
        sum.hits += c.hits;
        sum.misses += c.misses;
      }
    }
  }
  return [...sums.values()];
}
