/**
 * The tenant helpers every adapter of a tenant envelope (`createTenantEnvelope`) shares: telling a
 * tenant envelope from a plain one, a tenant id as a context holds it, and a batch's values grouped
 * per field and tenant (one envelope call each), each group with the context its values are under.
 */
import type { EncryptionContext, Envelope } from './envelope-types';
import type { TenantEnvelope } from './tenant-types';

/** Whether `envelope` is a tenant envelope (it has a string `tenantKey` and a `tenantOf`). */
export function isTenantEnvelope(envelope: Envelope): envelope is TenantEnvelope {
  const e = envelope as Envelope & { tenantKey?: unknown; tenantOf?: unknown };
  return typeof e.tenantKey === 'string' && typeof e.tenantOf === 'function';
}

/**
 * A row's tenant id as a context holds it: a non-empty string as is, a number or a bigint as its
 * decimal string; `undefined` for anything else (no tenant: the envelope then refuses the value
 * with `CMEK_UNKNOWN_TENANT`, never the default KEK).
 */
export function tenantIdOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value.length === 0 ? undefined : value;
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  return undefined;
}

/**
 * The context of a value of a field (`context`) in a row of `tenant`: `context` with the tenant id
 * under `tenantKey`; `context` itself when either is `undefined`.
 */
export function tenantContext(
  context: EncryptionContext,
  tenantKey: string | undefined,
  tenant: string | undefined,
): EncryptionContext {
  return tenantKey === undefined || tenant === undefined
    ? context
    : { ...context, [tenantKey]: tenant };
}

/** One value of a batch: its field, its row's tenant (if any) and what the adapter tracks. */
export interface TenantCell<F, T> {
  readonly field: F;
  readonly tenant: string | undefined;
  readonly item: T;
}

/** The values of one field and tenant, and the context they are encrypted under. */
export interface TenantGroup<F, T> {
  readonly field: F;
  readonly tenant: string | undefined;
  readonly context: EncryptionContext;
  readonly items: T[];
}

/**
 * `cells` grouped per field (by identity) and tenant, in first-seen order: one envelope call each.
 * Each group's context is `tenantContext(field.context, tenantKeyOf(field), tenant)`; `tenantKeyOf`
 * gives the context key of the tenant id for a field written under tenants, `undefined` otherwise.
 */
export function groupByTenant<F extends { readonly context: EncryptionContext }, T>(
  cells: Iterable<TenantCell<F, T>>,
  tenantKeyOf: (field: F) => string | undefined,
): TenantGroup<F, T>[] {
  const groups = new Map<F, Map<string | undefined, T[]>>();
  for (const { field, tenant, item } of cells) {
    let byTenant = groups.get(field);
    if (byTenant === undefined) {
      byTenant = new Map();
      groups.set(field, byTenant);
    }
    const list = byTenant.get(tenant);
    if (list === undefined) byTenant.set(tenant, [item]);
    else list.push(item);
  }
  return [...groups].flatMap(([field, byTenant]) => {
    const key = tenantKeyOf(field);
    return [...byTenant].map(([tenant, items]) => ({
      field,
      tenant,
      context: tenantContext(field.context, key, tenant),
      items,
    }));
  });
}
