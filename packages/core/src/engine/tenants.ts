/**
 * The engine's tenants: a run scoped to one tenant (a store with a `tenantColumn`), and the
 * envelope calls of a batch made once per tenant, each under the context of its rows' tenant.
 */
import { CmekConfigError, CmekError, CmekInvalidInputError } from '../errors';
import type { Row, RowStore, ScanOptions } from '../row-store';

/** The `tenant` option of a run, checked against the store; `undefined` for a whole-store run. */
export function tenantScope(store: RowStore, tenant: unknown): string | undefined {
  if (tenant === undefined) return undefined;
  if (typeof tenant !== 'string' || tenant.length === 0) {
    throw new CmekInvalidInputError('tenant must be a non-empty string');
  }
  if (typeof store.tenantColumn !== 'string' || store.tenantColumn.length === 0) {
    throw new CmekConfigError(
      `store '${store.name}' declares no tenantColumn: a run for one tenant needs a store that filters its scan by tenant`,
    );
  }
  return tenant;
}

/** The scan options of a run (none for a whole-store run, so stores see the call they always did). */
export const scanOptionsOf = (tenant: string | undefined): [ScanOptions] | [] =>
  tenant === undefined ? [] : [{ tenant }];

/** Ends a tenant-scoped run whose store returned a row of another tenant (it ignored the filter). */
export function checkTenantRows(
  store: RowStore,
  tenant: string | undefined,
  rows: readonly Row[],
): void {
  if (tenant === undefined) return;
  for (const row of rows) {
    if (row.tenant !== tenant) {
      throw new CmekConfigError(
        `store '${store.name}' returned a row of another tenant to a scan for tenant '${tenant}': its scan must filter by ${store.tenantColumn}`,
      );
    }
  }
}

/** The row's tenant for `contextFor`, in a store with a `tenantColumn`. */
const tenantOf = (store: RowStore, row: Row | undefined): string | undefined =>
  store.tenantColumn === undefined || typeof row?.tenant !== 'string' ? undefined : row.tenant;

/** The field's context for a row (the store's plain `contextFor(field)` without a tenant column). */
export function contextOf(store: RowStore, field: string, row: Row | undefined) {
  const tenant = tenantOf(store, row);
  return tenant === undefined ? store.contextFor(field) : store.contextFor(field, tenant);
}

/**
 * Calls `call` once per tenant of the rows `positions` name (`items[k]` belongs to
 * `rows[positions[k]]`), with that tenant's context, and returns the results in the items'
 * order. A store without a tenant column makes one call, as before.
 */
export async function perTenant<T, R>(
  store: RowStore,
  field: string,
  rows: readonly Row[],
  positions: readonly number[],
  items: readonly T[],
  call: (items: T[], context: Record<string, string>) => Promise<readonly R[]>,
): Promise<R[]> {
  const groups = new Map<string | undefined, number[]>();
  positions.forEach((position, k) => {
    const tenant = tenantOf(store, rows[position]);
    const group = groups.get(tenant);
    if (group === undefined) groups.set(tenant, [k]);
    else group.push(k);
  });
  const out = new Array<R>(items.length);
  for (const ks of groups.values()) {
    const context = contextOf(store, field, rows[positions[ks[0]!]!]);
    const results = await call(
      ks.map((k) => items[k]!),
      context,
    );
    ks.forEach((k, j) => {
      out[k] = results[j]!;
    });
  }
  return out;
}

/**
 * Whether an error refuses one tenant's values only (a tenant the resolver does not know, a
 * tenant's revoked key): counted per value in a whole-store run, so the other tenants go on.
 */
export const refusesTenant = (error: unknown): error is CmekError =>
  CmekError.isInstance(error) &&
  (error.code === 'CMEK_UNKNOWN_TENANT' || error.code === 'CMEK_TENANT_KEY_REVOKED');
