/**
 * The tenant of each value, for a tenant envelope (`createTenantEnvelope`): every value written
 * or read is encrypted under the context of its field plus the tenant id of its row (the table's
 * `tenantColumn`), under the envelope's `tenantKey`. A value whose row has no tenant id is passed
 * on without one: the envelope refuses it (`CMEK_UNKNOWN_TENANT`), never the default KEK.
 */
import { CmekQueryError, type EncryptionContext, tenantContext, tenantIdOf } from '@cmek/core';
import { type Column, is, Param, SQL, StringChunk } from 'drizzle-orm';
import { columnIdentity, isColumn } from './columns';
import { type CmekConfig, encryptedField, type FieldConfig, type TenantColumn } from './options';

/** A tenant id as the context holds it (a `Param`'s value unwrapped); undefined for a row without one. */
export function tenantId(value: unknown): string | undefined {
  return tenantIdOf(is(value, Param) ? (value as Param).value : value);
}

/** The context key of the tenant id for `field`'s values: undefined for a column not under tenants. */
export function tenantKeyFor(config: CmekConfig): (field: FieldConfig) => string | undefined {
  return (field) => (field.tenant === undefined ? undefined : config.tenantKey);
}

/** The context of a value of `field` in a row of `tenant`. */
export function contextOf(
  config: CmekConfig,
  field: FieldConfig,
  tenant: string | undefined,
): EncryptionContext {
  return tenantContext(field.context, tenantKeyFor(config)(field), tenant);
}

/** The tenant of each encrypted `Param` traced to its row (`null`: the row has none). */
const traced = new WeakMap<Param, string | null>();
/** Encrypted `Param`s of a conflict `set`: the tenant the set writes, or the inserted rows'. */
const conflictParams = new WeakSet<Param>();

function textOf(chunk: unknown): string {
  return (chunk as StringChunk).value.join('').trim();
}

/** The tenant ids a filter pins with `eq(tenantColumn, value)`, alone or under `and(...)`. */
function filterTenants(node: unknown, tenant: Column, out: Set<string>): void {
  if (!is(node, SQL)) return;
  const chunks = (node as SQL).queryChunks.filter((c) => !(is(c, StringChunk) && textOf(c) === ''));
  const [left, op, right] = chunks;
  if (
    chunks.length === 3 &&
    isColumn(left) &&
    columnIdentity(left) === columnIdentity(tenant) &&
    is(op, StringChunk) &&
    textOf(op) === '=' &&
    is(right, Param)
  ) {
    const id = tenantId(right);
    if (id !== undefined) out.add(id);
    return;
  }
  const words = chunks.filter((c) => is(c, StringChunk)).map(textOf);
  if (words.every((w) => w === '(' || w === ')' || w === 'and')) {
    for (const c of chunks) filterTenants(c, tenant, out);
  }
}

/** The single tenant a filter pins, if it pins exactly one. */
export function tenantOfFilter(where: unknown, tenant: TenantColumn): string | undefined {
  const found = new Set<string>();
  filterTenants(where, tenant.column, found);
  return found.size === 1 ? [...found][0] : undefined;
}

/** The table's tenant column, if its encrypted columns are written under tenants. */
export function tenantColumnOf(
  config: CmekConfig,
  columns: Record<string, Column>,
): TenantColumn | undefined {
  for (const column of Object.values(columns)) {
    const tenant = encryptedField(config, column)?.tenant;
    if (tenant !== undefined) return tenant;
  }
  return undefined;
}

function encryptedKeys(config: CmekConfig, columns: Record<string, Column>): string[] {
  return Object.entries(columns)
    .filter(([, c]) => encryptedField(config, c) !== undefined)
    .map(([key]) => key);
}

/**
 * A write that moves a row to another tenant (its `set` writes the tenant column) must write every
 * encrypted column of the row with it: the others would stay under the old tenant's context.
 */
function refuseMove(
  config: CmekConfig,
  columns: Record<string, Column>,
  tenant: TenantColumn,
  set: Record<string, unknown>,
  where: string,
): void {
  const missing = encryptedKeys(config, columns).filter((key) => set[key] === undefined);
  if (missing.length > 0) {
    const field = encryptedField(config, columns[missing[0]!]!)!;
    throw new CmekQueryError(
      field.label,
      `${where} writes ${tenant.label}, the tenant column, without ${missing.map((k) => columns[k]!.name).join(', ')}: a value stays under its old tenant's context and would not decrypt under the new one; write every encrypted column of the row with the tenant`,
    );
  }
}

function refuseSqlTenant(tenant: TenantColumn, value: unknown, where: string): void {
  if (is(value, SQL) || is(value, SQL.Aliased) || isColumn(value)) {
    throw new CmekQueryError(
      tenant.label,
      `${where} writes ${tenant.label}, the tenant column, as a SQL expression: the tenant of the row's encrypted values must be known before the statement runs; write the tenant id itself`,
    );
  }
}

/** Traces the encrypted `Param`s of a row of `insert().values()` to the row's tenant. */
export function traceRow(
  config: CmekConfig,
  columns: Record<string, Column>,
  row: Record<string, unknown>,
  tenants: Set<string | null>,
): void {
  const tenant = tenantColumnOf(config, columns);
  if (tenant === undefined) return;
  refuseSqlTenant(tenant, row[tenant.key], 'values()');
  link(config, columns, row, tenantId(row[tenant.key]) ?? null, tenants);
}

/** Traces the encrypted `Param`s of `values` (a row or a set) to the tenant `id`. */
function link(
  config: CmekConfig,
  columns: Record<string, Column>,
  values: Record<string, unknown>,
  id: string | null,
  tenants: Set<string | null>,
): void {
  tenants.add(id);
  for (const key of encryptedKeys(config, columns)) {
    const value = values[key];
    if (is(value, Param)) traced.set(value as Param, id);
  }
}

/**
 * Traces the encrypted `Param`s of an `update().set()`: to the tenant the set writes (with every
 * encrypted column, or refused), else to the one its filter pins (`eq(tenantColumn, id)`).
 */
export function traceSet(
  config: CmekConfig,
  columns: Record<string, Column>,
  set: Record<string, unknown>,
  filter: unknown,
  tenants: Set<string | null>,
): void {
  const tenant = tenantColumnOf(config, columns);
  if (tenant === undefined) return;
  let id: string | null;
  if (set[tenant.key] !== undefined) {
    refuseSqlTenant(tenant, set[tenant.key], 'set()');
    refuseMove(config, columns, tenant, set, 'set()');
    id = tenantId(set[tenant.key]) ?? null;
  } else id = tenantOfFilter(filter, tenant) ?? null;
  link(config, columns, set, id, tenants);
}

/**
 * A conflict `set` (`onConflictDoUpdate`, `onDuplicateKeyUpdate`) that writes an encrypted column
 * must write the tenant column and every encrypted column: the row it updates may be another
 * tenant's. Its encrypted values become `Param`s (passed as SQL, as Drizzle maps the set later),
 * encrypted under the tenant the set writes, or the inserted rows' one.
 */
export function traceConflictSet(
  config: CmekConfig,
  columns: Record<string, Column>,
  set: Record<string, unknown>,
  where: string,
): void {
  const tenant = tenantColumnOf(config, columns);
  if (tenant === undefined) return;
  const keys = encryptedKeys(config, columns).filter((key) => set[key] !== undefined);
  if (keys.length === 0) return;
  if (set[tenant.key] === undefined) {
    const field = encryptedField(config, columns[keys[0]!]!)!;
    throw new CmekQueryError(
      field.label,
      `${where} writes ${field.label} without ${tenant.label}, the tenant column: the row it updates may be another tenant's; write the tenant column (excluded.${tenant.column.name}, or the id) with every encrypted column`,
    );
  }
  refuseMove(config, columns, tenant, set, where);
  const pinned = tenantId(set[tenant.key]);
  for (const key of keys) {
    const value = set[key];
    // a value the blind-index step already passed as SQL holding its `Param`
    const chunks = is(value, SQL) ? (value as SQL).queryChunks : undefined;
    const held = chunks?.length === 1 && is(chunks[0], Param) ? (chunks[0] as Param) : undefined;
    if (held === undefined && (is(value, SQL) || is(value, SQL.Aliased) || isColumn(value))) {
      continue; // a copy (excluded.col): nothing to encrypt
    }
    const param = held ?? (is(value, Param) ? (value as Param) : new Param(value, columns[key]));
    if (pinned !== undefined) traced.set(param, pinned);
    else conflictParams.add(param);
    if (held === undefined) set[key] = new SQL([param]);
  }
}

/**
 * The tenant of an encrypted `Param` of a statement: the one it was traced to; else (a
 * `$defaultFn` / `$onUpdate` value, a conflict `set` copying the tenant) the statement's single
 * tenant; refused when the statement writes several.
 */
export function tenantOfParam(
  field: FieldConfig,
  param: Param,
  tenants: ReadonlySet<string | null>,
): string | undefined {
  if (field.tenant === undefined) return undefined;
  const own = traced.get(param);
  if (own !== undefined && !conflictParams.has(param)) return own ?? undefined;
  if (tenants.size > 1) {
    throw new CmekQueryError(
      field.label,
      `a value of ${field.label} not given in values() or set() (a $defaultFn, $onUpdate or conflict set) is written by a statement over several tenants; write one tenant's rows per statement, or give the value`,
    );
  }
  const [only] = tenants;
  return only ?? undefined;
}
