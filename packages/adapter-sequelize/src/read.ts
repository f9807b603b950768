/**
 * The read side: decrypting what a finder returns, instances and `raw: true` rows, includes too,
 * one `decryptMany` per field of a result set (`openCells`).
 */
import { CmekQueryError, openCells, tenantIdOf } from '@cmek/core';
import { Utils } from 'sequelize';
import { byEnvelope, type Cells } from './field-cells';
import { configOf, type FieldConfig, type ModelConfig } from './options';
import type { IncludeLike } from './query-rules';
import { isInstance, type Values } from './values';

interface Slot {
  readonly target: Values;
  readonly key: string;
  /** The instance's previous values: set to the plaintext too, so `changed()` stays clean. */
  readonly previous: Values | undefined;
  /** The row's tenant id, for a field under tenants. */
  readonly tenant?: string | undefined;
}

/** The slots of a result set by field (a field belongs to one model: its config's). */
type Slots = Map<FieldConfig, Slot[]>;

/**
 * The tenant id of a row holding a value of `field` (under tenants): its tenant attribute, read
 * from `row` at `key`; a row without it is refused (its values cannot be decrypted).
 */
function tenantAt(field: FieldConfig, row: Values, key: string | undefined): string | undefined {
  if (field.tenant === undefined) return undefined;
  if (key === undefined || !Object.hasOwn(row, key)) {
    throw new CmekQueryError(
      field.qualified,
      `${field.display} is encrypted under each row's tenant: a read that selects it must select ${field.tenant.attribute}, the tenant attribute, too`,
    );
  }
  return tenantIdOf(row[key]);
}

function add(slots: Slots, field: FieldConfig, slot: Slot): void {
  const list = slots.get(field);
  if (list) list.push(slot);
  else slots.set(field, [slot]);
}

/**
 * Decrypts each field's stored values (legacy plaintext as the field's model's plaintext policy
 * says; null stays null): one `openCells` per envelope and policy, one `decryptMany` per field.
 * `result[i]` is for `cells[i]`.
 */
export function openFields(
  cells: readonly Cells<string | null | undefined>[],
): Promise<(string | null)[][]> {
  return byEnvelope(cells, (envelope, plaintextPolicy, group) =>
    openCells(envelope, group, plaintextPolicy ? { plaintextPolicy } : {}),
  );
}

/** The column an `attributes` entry selects: `'slack_token'`, or `col('Model.slack_token')`. */
function selectedName(config: ModelConfig, selected: unknown): string | undefined {
  if (typeof selected === 'string') return selected;
  if (!(selected instanceof Utils.Col)) return undefined;
  const col = (selected as unknown as { col?: unknown }).col;
  if (typeof col !== 'string') return undefined;
  const parts = col.split('.');
  if (parts.length === 1) return parts[0];
  return parts.length === 2 && parts[0] === config.model.name ? parts[1] : undefined;
}

/** Result keys that hold an encrypted field: attribute names, and aliases from `attributes`. */
function keysOf(config: ModelConfig, attributes: unknown): Map<string, FieldConfig> {
  const keys = new Map(config.byAttribute);
  if (Array.isArray(attributes)) {
    for (const entry of attributes) {
      if (!Array.isArray(entry) || typeof entry[1] !== 'string') continue;
      const name = selectedName(config, entry[0]);
      const field = name === undefined ? undefined : config.byName.get(name);
      if (field) keys.set(entry[1], field);
    }
  }
  return keys;
}

function collectInstance(
  value: unknown,
  keys: Map<string, FieldConfig> | undefined,
  slots: Slots,
  seen: Set<object>,
  depth: number,
): void {
  if (depth > 16) return;
  if (Array.isArray(value)) {
    for (const item of value) collectInstance(item, undefined, slots, seen, depth + 1);
    return;
  }
  if (!isInstance(value) || seen.has(value)) return;
  seen.add(value);
  const config = configOf((value as { constructor?: unknown }).constructor);
  const data = value.dataValues;
  if (config) {
    const fieldKeys = keys ?? config.byAttribute;
    for (const [key, field] of fieldKeys) {
      if (!Object.hasOwn(data, key)) continue;
      const tenant = tenantAt(field, data, config.tenant?.attribute);
      add(slots, field, { target: data, key, previous: value._previousDataValues, tenant });
    }
  }
  // Included models sit in the data values as instances (or arrays of them).
  for (const key of Object.keys(data)) {
    const inner = data[key];
    if (isInstance(inner) || (Array.isArray(inner) && inner.some(isInstance))) {
      collectInstance(inner, undefined, slots, seen, depth + 1);
    }
  }
}

function pathGet(row: Values, path: readonly string[]): Values | undefined {
  let at: unknown = row;
  for (const part of path) {
    if (typeof at !== 'object' || at === null) return undefined;
    at = (at as Values)[part];
  }
  return typeof at === 'object' && at !== null && !Array.isArray(at) ? (at as Values) : undefined;
}

/** `raw: true` rows: own fields by key; included ones as `Alias.field` (or nested with `nest`). */
function collectRaw(
  row: Values,
  own: Map<string, FieldConfig> | undefined,
  includes: readonly IncludeLike[] | undefined,
  slots: Slots,
  prefix: readonly string[],
): void {
  if (own) {
    for (const [key, field] of own) {
      if (!Object.hasOwn(row, key)) continue;
      const tenant = tenantAt(field, row, field.tenant?.attribute);
      add(slots, field, { target: row, key, previous: undefined, tenant });
    }
  }
  for (const inc of includes ?? []) {
    if (typeof inc.as !== 'string') continue;
    const path = [...prefix, inc.as];
    const config = configOf(inc.model);
    if (config) {
      const keys = keysOf(config, inc.attributes);
      const nested = pathGet(row, path);
      for (const [attr, field] of keys) {
        const flat = `${path.join('.')}.${attr}`;
        const tenantAttr = field.tenant?.attribute;
        if (Object.hasOwn(row, flat)) {
          const key = tenantAttr === undefined ? undefined : `${path.join('.')}.${tenantAttr}`;
          const tenant = tenantAt(field, row, key);
          add(slots, field, { target: row, key: flat, previous: undefined, tenant });
        } else if (nested && Object.hasOwn(nested, attr)) {
          const tenant = tenantAt(field, nested, tenantAttr);
          add(slots, field, { target: nested, key: attr, previous: undefined, tenant });
        }
      }
    }
    collectRaw(row, undefined, inc.include, slots, path);
  }
}

export interface FindOptionsLike {
  readonly raw?: boolean;
  readonly attributes?: unknown;
  readonly include?: readonly IncludeLike[];
}

/**
 * Decrypts a finder's results in place: one `decryptMany` per field (of the model or of an
 * included one), so rows that share a DEK cost one KEK call.
 */
export async function decryptResults(
  results: unknown,
  options: FindOptionsLike,
  mainModel: unknown,
): Promise<void> {
  if (results === null || results === undefined) return;
  const rows = Array.isArray(results) ? results : [results];
  if (rows.length === 0) return;
  const mainConfig = configOf(mainModel);
  const ownKeys = mainConfig ? keysOf(mainConfig, options.attributes) : undefined;
  const slots: Slots = new Map();
  const seen = new Set<object>();
  for (const row of rows) {
    if (isInstance(row)) collectInstance(row, ownKeys, slots, seen, 0);
    else if (typeof row === 'object' && row !== null) {
      collectRaw(row as Values, ownKeys, options.include, slots, []);
    }
  }
  const fields = [...slots].flatMap(([field, all]) => {
    const byTenant = new Map<string | undefined, Slot[]>();
    for (const slot of all) {
      const list = byTenant.get(slot.tenant);
      if (list) list.push(slot);
      else byTenant.set(slot.tenant, [slot]);
    }
    return [...byTenant].map(([tenant, list]) => ({
      field,
      list,
      tenant,
      values: list.map((slot) => slot.target[slot.key] as string | null | undefined),
    }));
  });
  const opened = await openFields(fields);
  for (const [f, { list, values }] of fields.entries()) {
    const plain = opened[f]!;
    for (const [i, slot] of list.entries()) {
      if (values[i] === null || values[i] === undefined) continue;
      slot.target[slot.key] = plain[i];
      if (slot.previous && slot.previous[slot.key] === values[i])
        slot.previous[slot.key] = plain[i];
    }
  }
}
