/**
 * The tenant of each value, for a tenant envelope (`createTenantEnvelope`): every value written
 * or read is encrypted under its field's context plus the tenant id of its record (the model's
 * `tenantColumn`), under the envelope's `tenantKey`. A value whose record has no tenant id is
 * passed on without one: the envelope refuses it (`CMEK_UNKNOWN_TENANT`), never the default KEK.
 */
import { CmekQueryError, tenantIdOf } from '@cmek/core';
import { isPlainObject, type ModelInfo, relatedModel, type Schema } from './data-model';
import type { FieldConfig } from './options';

/** The context key of the tenant id for `field`'s values: undefined for a field not under tenants. */
export function tenantKeyOf(field: FieldConfig): string | undefined {
  return field.tenant?.key;
}

/** The tenant ids a `where` pins on `field`: `{ field: id }`, `{ equals: id }`, under `AND`, in a compound unique. */
function whereTenants(where: unknown, field: string, out: Set<string>): void {
  if (Array.isArray(where)) {
    for (const item of where) whereTenants(item, field, out);
    return;
  }
  if (!isPlainObject(where)) return;
  for (const [key, value] of Object.entries(where)) {
    if (key === field) {
      const id = tenantIdOf(isPlainObject(value) ? value.equals : value);
      if (id !== undefined) out.add(id);
    } else if (key === 'AND') {
      whereTenants(value, field, out);
    } else if (isPlainObject(value) && key.includes('_') && Object.hasOwn(value, field)) {
      // a compound unique (`workspaceId_name: { workspaceId, name }`)
      const id = tenantIdOf(value[field]);
      if (id !== undefined) out.add(id);
    }
  }
}

/** The single tenant a `where` pins, if it pins exactly one. */
export function tenantOfWhere(where: unknown, field: string): string | undefined {
  const found = new Set<string>();
  whereTenants(where, field, found);
  return found.size === 1 ? [...found][0] : undefined;
}

/**
 * The tenant of the values of one `data` of `model`: the tenant field in the data (an update that
 * writes it moves the record: every encrypted field must be written with it), else for an update
 * the one its `where` pins.
 */
export function tenantOfData(
  model: ModelInfo,
  data: Record<string, unknown>,
  update: boolean,
  where: unknown,
): string | undefined {
  const field = model.tenant;
  if (field === undefined) return undefined;
  let value = data[field];
  if (update && isPlainObject(value) && Object.keys(value).length === 1 && 'set' in value) {
    value = value.set;
  }
  if (value === undefined) return update ? tenantOfWhere(where, field) : undefined;
  if (update) {
    const missing = [...model.encrypted.keys()].filter((f) => data[f] === undefined);
    if (missing.length > 0) {
      const label = model.encrypted.get(missing[0]!)!.label;
      throw new CmekQueryError(
        label,
        `an update of ${model.name}.${field}, the tenant field, without ${missing.join(', ')}: a value stays under its old tenant's context and would not decrypt under the new one; write every encrypted field of the record with the tenant`,
      );
    }
  }
  return tenantIdOf(value);
}

/**
 * A `select` (or `omit`) that returns an encrypted field of a tenant model without the tenant
 * field is refused before the query runs: each value is decrypted under its record's tenant.
 * Checked at every depth of `select` / `include`.
 */
export function refuseTenantless(schema: Schema, model: ModelInfo, args: unknown): void {
  if (!isPlainObject(args)) return;
  const { select, include, omit } = args;
  const tenant = model.tenant;
  if (tenant !== undefined) {
    const encrypted = [...model.encrypted.keys()];
    const returned = isPlainObject(select)
      ? encrypted.filter((f) => select[f] === true)
      : encrypted.filter((f) => !(isPlainObject(omit) && omit[f] === true));
    const hasTenant = isPlainObject(select)
      ? select[tenant] === true
      : !(isPlainObject(omit) && omit[tenant] === true);
    if (returned.length > 0 && !hasTenant) {
      const label = model.encrypted.get(returned[0]!)!.label;
      throw new CmekQueryError(
        label,
        `a selection of ${label} needs ${model.name}.${tenant}, its tenant field, beside it: each value is decrypted under its record's tenant; select the tenant field too`,
      );
    }
  }
  for (const nested of [select, include]) {
    if (!isPlainObject(nested)) continue;
    for (const [key, value] of Object.entries(nested)) {
      const related = relatedModel(schema, model, key);
      if (related !== undefined && isPlainObject(value)) refuseTenantless(schema, related, value);
    }
  }
}
