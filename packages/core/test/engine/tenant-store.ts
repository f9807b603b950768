/**
 * A `MemoryStore` of a multi-tenant table: each row's tenant id in `tenant_id` (`tenantColumn`),
 * `scan` and `count` filtered by `{ tenant }`, `contextFor(field, tenant)` with the tenant under
 * the tenant envelope's key. `ignoreFilter` plays a store that does not filter (the engine must
 * refuse its rows).
 */
import type { Cursor, Row, ScanOptions } from '../../src/index';
import { MemoryStore } from './support';

export class TenantMemoryStore extends MemoryStore {
  readonly tenantColumn = 'tenant_id';
  readonly scanOptions: (ScanOptions | undefined)[] = [];
  ignoreFilter = false;

  override contextFor(field: string, tenant?: string): Record<string, string> {
    return { ...super.contextFor(field), ...(tenant === undefined ? {} : { tenant }) };
  }

  override async scan(after: Cursor | undefined, limit: number, options?: ScanOptions) {
    this.scanOptions.push(options);
    const tenant = this.ignoreFilter ? undefined : options?.tenant;
    // The filter first, then the page: as `WHERE tenant_id = ? AND id > ? ORDER BY id LIMIT ?`.
    const all = await super.scan(after, Number.MAX_SAFE_INTEGER);
    return all
      .filter((row) => tenant === undefined || row.values.tenant_id === tenant)
      .slice(0, limit)
      .map(
        (row): Row => ({
          id: row.id,
          values: Object.fromEntries(this.fields.map((f) => [f, row.values[f] ?? null])),
          tenant: row.values.tenant_id ?? null,
        }),
      );
  }

  async count(options?: ScanOptions): Promise<number> {
    return [...this.rows.values()].filter(
      (row) => options?.tenant === undefined || row.tenant_id === options.tenant,
    ).length;
  }
}

/** `n` rows with ids 1..n, tenants in turn from `tenants` (`null`: a row without a tenant). */
export function seedTenants(
  store: TenantMemoryStore,
  n: number,
  tenants: readonly (string | null)[],
): void {
  for (let id = 1; id <= n; id++) {
    store.rows.set(id, {
      secret: `s${id}`,
      note: `n${id}`,
      tenant_id: tenants[(id - 1) % tenants.length]!,
    });
  }
}
