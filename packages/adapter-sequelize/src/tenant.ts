/**
 * The tenant of a write, for a model with `tenantColumn` (a tenant envelope): the row's tenant
 * attribute, the instance's, or the one a static update's `where` pins. A write whose tenant is
 * unknown passes its values on without one: the envelope refuses them (`CMEK_UNKNOWN_TENANT`),
 * never the default KEK.
 */
import { CmekQueryError } from '@cmek/core';
import type { FieldSet, TenantConfig } from './options';
import { isInstance, type Values } from './values';

/** The tenant attribute of the fields of `set`, if they are written under tenants. */
export function tenantOfSet(set: FieldSet): TenantConfig | undefined {
  for (const field of set.byName.values()) if (field.tenant) return field.tenant;
  return undefined;
}

/** The tenant id an instance holds (its tenant attribute), for the values of its write. */
export function instanceTenant(set: FieldSet, instance: unknown): unknown {
  const tenant = tenantOfSet(set);
  if (tenant === undefined || !isInstance(instance)) return undefined;
  return instance.dataValues[tenant.attribute];
}

/**
 * The tenant id a static update's `where` pins: `{ workspaceId: x }` (attribute or column, a
 * string or number, at the top level or under `Op.and` as a plain object); undefined otherwise.
 */
export function whereTenant(set: FieldSet, where: unknown): unknown {
  const tenant = tenantOfSet(set);
  if (tenant === undefined || typeof where !== 'object' || where === null) return undefined;
  const w = where as Values;
  for (const key of [tenant.attribute, tenant.column]) {
    const value = w[key];
    if (typeof value === 'string' || typeof value === 'number') return value;
  }
  return undefined;
}

/**
 * A write that moves a row to another tenant (it sets the tenant attribute) must write every
 * encrypted field with it: a value left out stays under the old tenant's context.
 */
export function refuseMove(set: FieldSet, values: Values): void {
  const tenant = tenantOfSet(set);
  if (tenant === undefined) return;
  if (!Object.hasOwn(values, tenant.attribute) && !Object.hasOwn(values, tenant.column)) return;
  const fields = new Set(set.byName.values());
  for (const field of fields) {
    if (!Object.hasOwn(values, field.attribute) && !Object.hasOwn(values, field.column)) {
      throw new CmekQueryError(
        field.qualified,
        `a write sets ${tenant.attribute}, the tenant attribute, without ${field.display}: its value stays under the old tenant's context and would not decrypt under the new one; write every encrypted field with the tenant`,
      );
    }
  }
}

/**
 * An upsert's update values that write an encrypted field must write the tenant attribute: the
 * row it updates may be another tenant's.
 */
export function refuseUntenantedUpsert(set: FieldSet, update: Values): void {
  const tenant = tenantOfSet(set);
  if (tenant === undefined) return;
  if (Object.hasOwn(update, tenant.attribute) || Object.hasOwn(update, tenant.column)) return;
  for (const field of new Set(set.byName.values())) {
    if (Object.hasOwn(update, field.attribute) || Object.hasOwn(update, field.column)) {
      throw new CmekQueryError(
        field.qualified,
        `an upsert updates ${field.display} without ${tenant.attribute}, the tenant attribute: the row it updates may be another tenant's; upsert the tenant attribute with every encrypted field`,
      );
    }
  }
}
