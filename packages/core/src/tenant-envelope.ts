/**
 * `createTenantEnvelope`: each tenant's values under the tenant's own KEK, through one envelope.
 * The tenant id is read from the encryption context (so it is bound into each token); each tenant
 * gets an inner envelope of its own (its own DEK caches: no DEK serves two tenants).
 */
import type { CacheStats } from './cache-events';
import { emitterOf } from './emitter';
import { createEnvelope, servingOf } from './envelope';
import {
  DEFAULT_DECRYPT_CACHE,
  dekCacheOf,
  limitsOf,
  policyOf,
  positive,
} from './envelope-options';
import type {
  CryptOptions,
  DecryptOptions,
  Encryptable,
  EncryptionContext,
  Envelope,
  TokenInfo,
} from './envelope-types';
import {
  CmekClosedError,
  CmekConfigError,
  CmekError,
  CmekInvalidInputError,
  CmekKekUnavailableError,
  CmekTenantKeyRevokedError,
  CmekUnknownTenantError,
} from './errors';
import { checkHealth } from './health';
import { type KekCallHook, kekCallHookOf } from './kek-call-hook';
import { borrowKeyring, createKeyring, isKeyring, type Keyring } from './keyring';
import type { KekProvider } from './provider';
import { TenantCache, type TenantEntry } from './tenant-cache';
import {
  sumCaches,
  type TenantEnvelope,
  type TenantEnvelopeOptions,
  type TenantEnvelopeStats,
  type TenantHealthOptions,
  type TenantHealthReport,
  type TenantKek,
} from './tenant-types';
import { inspectToken } from './token';
import { isTokenLike } from './token-shape';

export const DEFAULT_TENANT_CACHE = { maxTenants: 1_000, maxAgeMs: 10 * 60_000 } as const;

const keyringOf = (kek: KekProvider | Keyring, role: string): Keyring => {
  if (isKeyring(kek)) return kek;
  try {
    return createKeyring({ primary: kek });
  } catch (error) {
    throw new CmekConfigError(`${role} must be a KEK provider or a keyring`, { cause: error });
  }
};

/** A tenant's failure as the caller sees it: an access-denied KEK names the tenant. */
function tenantError(error: unknown, tenant: string): unknown {
  if (CmekError.isInstance(error) && error.code === 'CMEK_KEK_ACCESS_DENIED') {
    return new CmekTenantKeyRevokedError(tenant, undefined, { cause: error });
  }
  return error;
}

const allNull = (values: readonly unknown[]): boolean =>
  values.every((v) => v === null || v === undefined);

/**
 * One envelope for many tenants, each under its own KEK: `resolve(tenantId)` names the KEK of a
 * tenant (or `'default'`, or `undefined` to refuse it); values are routed by `context[tenantKey]`.
 */
export function createTenantEnvelope(options: TenantEnvelopeOptions): TenantEnvelope {
  if (typeof options !== 'object' || options === null) {
    throw new CmekConfigError('createTenantEnvelope needs an options object with resolve');
  }
  const { resolve, defaultKek, release, tenantKey = 'tenant' } = options;
  if (typeof resolve !== 'function') {
    throw new CmekConfigError('createTenantEnvelope needs resolve: (tenant) => KEK');
  }
  if (release !== undefined && typeof release !== 'function') {
    throw new CmekConfigError('release must be a function');
  }
  if (typeof tenantKey !== 'string' || tenantKey.length === 0) {
    throw new CmekConfigError('tenantKey must be a non-empty string');
  }
  const cacheOptions = options.cache ?? {};
  if (typeof cacheOptions !== 'object' || cacheOptions === null) {
    throw new CmekConfigError('cache must be an options object');
  }
  const limits = {
    maxTenants: positive(
      cacheOptions.maxTenants ?? DEFAULT_TENANT_CACHE.maxTenants,
      'cache.maxTenants',
    ),
    maxAgeMs: positive(cacheOptions.maxAgeMs ?? DEFAULT_TENANT_CACHE.maxAgeMs, 'cache.maxAgeMs'),
  };
  const defaultRing = defaultKek === undefined ? undefined : keyringOf(defaultKek, 'defaultKek');
  const emit = emitterOf(options.onEvent);
  const hook = kekCallHookOf(options.kekCallHook);
  const { resolve: _r, defaultKek: _d, release: _l, tenantKey: _t, cache: _c, ...inner } = options;
  // Checked once here, so that a bad option fails at setup rather than at a tenant's first use.
  limitsOf(inner.decryptCache, DEFAULT_DECRYPT_CACHE, 'decryptCache');
  dekCacheOf(inner.dekCache);
  if (inner.plaintextPolicy !== undefined) policyOf(inner.plaintextPolicy, 'plaintextPolicy');
  if (inner.maxTokenAgeMs !== undefined) positive(inner.maxTokenAgeMs, 'maxTokenAgeMs');

  /** The inner envelope's listener and hook: the tenant added to what they are told. */
  const tagged = (tenant: string) => ({
    ...(options.onEvent === undefined
      ? {}
      : { onEvent: (event: Parameters<typeof emit>[0]) => emit({ ...event, tenant }) }),
    ...(hook === undefined
      ? {}
      : {
          kekCallHook: ((call, run) => hook({ ...call, tenant }, run)) as KekCallHook,
        }),
  });

  const entryOf = async (tenant: string): Promise<TenantEntry> => {
    let answer: TenantKek;
    try {
      answer = await resolve(tenant);
    } catch (error) {
      if (CmekError.isInstance(error)) throw tenantError(error, tenant);
      throw new CmekKekUnavailableError(`the tenant resolver failed for tenant '${tenant}'`, {
        cause: error,
      });
    }
    if (answer === undefined || answer === null) throw new CmekUnknownTenantError(tenant);
    let keyring: Keyring;
    if (answer === 'default') {
      if (defaultRing === undefined) {
        throw new CmekConfigError(
          `the tenant resolver answered 'default' for tenant '${tenant}', but there is no defaultKek`,
        );
      }
      keyring = defaultRing;
    } else keyring = keyringOf(answer, `the KEK resolved for tenant '${tenant}'`);
    const envelope = createEnvelope({
      ...inner,
      ...tagged(tenant),
      kek: borrowKeyring(keyring),
    });
    return {
      tenant,
      envelope,
      keyring,
      owned: answer === 'default' ? undefined : answer,
      created: performance.now(),
      active: 0,
      retired: false,
    };
  };

  const tenants = new TenantCache(limits, entryOf, async (entry) => {
    if (release === undefined || entry.owned === undefined) return;
    try {
      await release(entry.tenant, entry.owned);
    } catch {
      // Releasing a tenant's client must not break the caller.
    }
  });

  let closed = false;
  const ensureOpen = (): void => {
    if (closed) throw new CmekClosedError();
  };

  const tenantOf = (context: EncryptionContext | undefined): string => {
    const tenant = context?.[tenantKey];
    if (typeof tenant !== 'string' || tenant.length === 0) {
      throw new CmekUnknownTenantError(
        undefined,
        `the encryption context has no tenant id under '${tenantKey}': a tenant envelope refuses the value`,
      );
    }
    return tenant;
  };

  /** Runs `call` on the inner envelope of the context's tenant. */
  async function within<T>(
    context: EncryptionContext | undefined,
    call: (envelope: Envelope) => Promise<T>,
  ): Promise<T> {
    ensureOpen();
    const tenant = tenantOf(context);
    const entry = await tenants.acquire(tenant);
    try {
      ensureOpen();
      return await call(entry.envelope);
    } catch (error) {
      throw tenantError(error, tenant);
    } finally {
      tenants.done(entry);
    }
  }

  const envelope = {
    tenantKey,
    get keyring(): Keyring {
      if (defaultRing === undefined) {
        throw new CmekConfigError(
          'this tenant envelope has no defaultKek: each tenant has its own keyring (keyringFor)',
        );
      }
      return defaultRing;
    },
    tenantOf,
    async encrypt(value: Encryptable | null | undefined, options?: CryptOptions) {
      if (value === null || value === undefined) {
        ensureOpen();
        return null;
      }
      return within(options?.context, (e) => e.encrypt(value, options));
    },
    async decrypt(token: string | null | undefined, options?: DecryptOptions) {
      if (token === null || token === undefined) {
        ensureOpen();
        return null;
      }
      return within(options?.context, (e) => e.decrypt(token, options));
    },
    async decryptBytes(token: string, options?: DecryptOptions): Promise<Uint8Array> {
      if (typeof token !== 'string') {
        throw new CmekInvalidInputError('decryptBytes needs a token string');
      }
      return within(options?.context, (e) => e.decryptBytes(token, options));
    },
    async encryptMany(values: readonly (Encryptable | null | undefined)[], options?: CryptOptions) {
      if (!Array.isArray(values)) throw new CmekInvalidInputError('encryptMany needs an array');
      if (allNull(values)) {
        ensureOpen();
        return values.map(() => null);
      }
      return within(options?.context, (e) => e.encryptMany(values, options));
    },
    async decryptMany(tokens: readonly (string | null | undefined)[], options?: DecryptOptions) {
      if (!Array.isArray(tokens)) throw new CmekInvalidInputError('decryptMany needs an array');
      if (allNull(tokens)) {
        ensureOpen();
        return tokens.map(() => null);
      }
      return within(options?.context, (e) => e.decryptMany(tokens, options));
    },
    isEncrypted: (value: unknown): value is string => isTokenLike(value),
    inspect: (token: string): TokenInfo => inspectToken(token),
    async keyringFor(tenant: string): Promise<Keyring> {
      ensureOpen();
      const id = tenantOf({ [tenantKey]: tenant });
      const entry = await tenants.acquire(id);
      tenants.done(entry);
      return entry.keyring;
    },
    async forgetTenant(tenant: string): Promise<void> {
      if (typeof tenant !== 'string') {
        throw new CmekInvalidInputError('forgetTenant needs a tenant id');
      }
      await tenants.forget(tenant);
    },
    stats(): TenantEnvelopeStats {
      ensureOpen();
      const held = tenants.held().map((entry) => ({
        tenant: entry.tenant,
        caches: entry.envelope.stats().caches,
      }));
      const caches: CacheStats[] = sumCaches([
        tenants.droppedStats(),
        ...held.map((t) => t.caches),
      ]);
      return { caches, tenants: held };
    },
    async health(options?: TenantHealthOptions): Promise<TenantHealthReport> {
      ensureOpen();
      const tenant = options?.tenant;
      const signal = options?.signal;
      if (tenant !== undefined) {
        const report = await within({ [tenantKey]: tenant }, (e) =>
          e.health(signal === undefined ? undefined : { signal }),
        );
        return { ...report, tenant };
      }
      if (defaultRing === undefined) {
        throw new CmekConfigError(
          'health() of a tenant envelope without defaultKek needs { tenant }',
        );
      }
      const held = tenants.held();
      return checkHealth(
        { emit, hook },
        defaultRing.primary,
        {
          serving: () => held.some((entry) => servingOf(entry.envelope)),
          stats: () => envelope.stats().caches,
        },
        signal === undefined ? undefined : { signal },
      );
    },
    async close() {
      if (closed) return;
      closed = true;
      await tenants.closeAll();
      await defaultRing?.close();
    },
  };
  return envelope as TenantEnvelope;
}
