/**
 * The write side: checking and encrypting the values that reach the database (`sealCells`, one
 * call per field), and giving the instances and rows a write hands back their plaintext.
 */
import { isUtf8 } from 'node:buffer';
import {
  assertFieldValue,
  type BlindIndexer,
  blindIndexCells,
  CmekInvalidInputError,
  CmekQueryError,
  type Encryptable,
  sealCells,
  tenantIdOf,
} from '@cmek/core';
import { Utils } from 'sequelize';
import { byEnvelope, type Cells } from './field-cells';
import {
  configOf,
  type FieldConfig,
  type FieldSet,
  fieldNamed,
  indexKeyOf,
  indexNamed,
} from './options';
import { openFields } from './read';
import { isInstance, textOf, type Values } from './values';

/** Token → plaintext for the values one write encrypted (or verified): restoring costs nothing. */
export type Known = Map<string, string>;

/**
 * Refuses, naming the field and the value's type but never the value, what an encrypted field
 * cannot take: an SQL expression (`CmekQueryError`); anything but a string, UTF-8 bytes or null
 * (`CmekInvalidInputError`). Bytes that are not valid UTF-8 are refused here too, before any
 * validator sees them (the envelope would refuse them later: values decrypt to strings).
 */
export function assertWritable(
  field: FieldConfig,
  value: unknown,
): asserts value is Encryptable | null | undefined {
  if (value instanceof Utils.SequelizeMethod) {
    throw new CmekQueryError(
      field.qualified,
      `${field.display} is encrypted: an SQL expression (fn, col, literal) cannot be written to it; pass the plaintext string`,
    );
  }
  assertFieldValue(value, field.display);
  if (value instanceof Uint8Array && !isUtf8(value)) {
    throw new CmekInvalidInputError(
      `${field.display} is encrypted and takes a string or UTF-8 bytes: these bytes are not valid UTF-8 (values decrypt to strings; encode binary data, e.g. base64, first)`,
    );
  }
}

/** The refusal of a value written to a blind-index attribute or column. */
export function indexWrite(field: FieldConfig, key: string): CmekQueryError {
  return new CmekQueryError(
    field.qualified,
    `a write sets ${key}, the blind index of ${field.display}: the index is computed from the value and written with it; write ${field.attribute} instead`,
  );
}

/** One field's values in a write: where each is, and the plaintext of each value indexed. */
interface Written {
  readonly field: FieldConfig;
  readonly name: string;
  /** The tenant id of the rows, for a field under tenants. */
  readonly tenant: string | undefined;
  /** The values encrypted, and the records they are in. */
  readonly values: Encryptable[];
  readonly at: number[];
  /** For each value encrypted, its place in `plaintexts` (-1: the field has no index). */
  readonly slots: number[];
  /** The records whose value the indexes are computed for (null: a null index). */
  readonly indexed: number[];
  readonly plaintexts: (Encryptable | null)[];
}

/**
 * Copies of `records` (keyed by attribute or column names) with every encrypted field's string
 * (or UTF-8 bytes) encrypted; `null` and `undefined` stay; a valid token of the field stays as it
 * is. Beside each value of a field with a blind index, its index attributes (or columns, beside a
 * column) are set from the plaintext (core's `blindIndexCells`, one call per write; null for a
 * null value); a record that sets an index itself is refused.
 */
export async function encryptRecords(
  config: FieldSet,
  records: readonly Values[],
  known: Known,
  tenantOf?: (i: number) => unknown,
): Promise<Values[]> {
  const out = records.map((record) => ({ ...record }));
  // The keys the records use for encrypted fields, in whatever letter case they are written.
  const keys = new Map<string, FieldConfig>();
  for (const row of out) {
    for (const key of Object.keys(row)) {
      if (keys.has(key)) continue;
      const field = fieldNamed(config, key);
      if (field !== undefined) keys.set(key, field);
      else {
        const indexed = indexNamed(config, key);
        if (indexed !== undefined && row[key] !== undefined) throw indexWrite(indexed, key);
      }
    }
  }
  // Every value is checked before anything is encrypted: a refused value costs no KEK call.
  const cells: Written[] = [];
  for (const [name, field] of keys) {
    const byTenant = new Map<string | undefined, Written>();
    const cellOf = (tenant: string | undefined): Written => {
      let cell = byTenant.get(tenant);
      if (cell === undefined) {
        cell = { field, name, tenant, values: [], at: [], slots: [], indexed: [], plaintexts: [] };
        byTenant.set(tenant, cell);
      }
      return cell;
    };
    const index = (cell: Written, i: number, plaintext: Encryptable | null): number => {
      if (field.indexes.length === 0) return -1;
      cell.indexed.push(i);
      return cell.plaintexts.push(plaintext) - 1;
    };
    for (const [i, row] of out.entries()) {
      if (!Object.hasOwn(row, name)) continue;
      const value = row[name];
      assertWritable(field, value);
      if (value === undefined) continue;
      const cell = cellOf(field.tenant ? rowTenant(field, row, i, tenantOf) : undefined);
      // A token this write already made or verified (an upsert's insert and update values).
      const plain = typeof value === 'string' ? known.get(value) : undefined;
      if (value === null || plain !== undefined) {
        index(cell, i, plain ?? null);
        continue;
      }
      cell.at.push(i);
      cell.values.push(value);
      cell.slots.push(index(cell, i, null));
    }
    for (const cell of byTenant.values())
      if (cell.values.length > 0 || cell.indexed.length > 0) cells.push(cell);
  }
  const sealing = cells.filter((c) => c.values.length > 0);
  const sealed = await byEnvelope(sealing, (envelope, _policy, group) =>
    sealCells(envelope, group),
  );
  for (const [c, { name, at, slots, plaintexts }] of sealing.entries()) {
    const { stored, plaintexts: opened } = sealed[c]!;
    for (const [n, i] of at.entries()) {
      out[i]![name] = stored[n];
      known.set(stored[n]!, textOf(opened[n] as Encryptable));
      // the plaintext of a token passed in, not the token, is what its index is computed from
      if (slots[n]! !== -1) plaintexts[slots[n]!] = opened[n] as Encryptable;
    }
  }
  await writeIndexes(cells, out);
  return out;
}

/**
 * The tenant id of record `i`: its tenant attribute (or column), else `tenantOf(i)` (the instance
 * written, the filter of a static update); undefined when unknown (the envelope refuses it).
 */
function rowTenant(
  field: FieldConfig,
  row: Values,
  i: number,
  tenantOf: ((i: number) => unknown) | undefined,
): string | undefined {
  const { attribute, column } = field.tenant!;
  if (Object.hasOwn(row, attribute)) return tenantIdOf(row[attribute]);
  if (Object.hasOwn(row, column)) return tenantIdOf(row[column]);
  return tenantIdOf(tenantOf?.(i));
}

/** Sets the index keys of `out` beside each indexed value: one `blindIndexCells` call per indexer. */
async function writeIndexes(cells: readonly Written[], out: Values[]): Promise<void> {
  const due = cells.filter((c) => c.indexed.length > 0 && c.field.indexer !== undefined);
  const byIndexer = new Map<BlindIndexer, Written[]>();
  for (const c of due) {
    const list = byIndexer.get(c.field.indexer!);
    if (list) list.push(c);
    else byIndexer.set(c.field.indexer!, [c]);
  }
  for (const [indexer, list] of byIndexer) {
    const computed = await blindIndexCells(
      indexer,
      list.map(({ field, plaintexts }) => ({
        label: field.display,
        context: field.context,
        indexes: field.indexes,
        plaintexts,
      })),
    );
    for (const [n, { field, name, indexed }] of list.entries()) {
      for (const [j, { values }] of computed[n]!.entries()) {
        const key = indexKeyOf(field, name, j);
        for (const [v, i] of indexed.entries()) out[i]![key] = values[v] ?? null;
      }
    }
  }
}

/** An upsert's insert and update values, the same plaintext encrypted once for both. */
export async function encryptUpsert(
  fields: FieldSet,
  insertValues: Values,
  updateValues: Values,
  known: Known,
): Promise<[Values, Values]> {
  const [sealedInsert] = await encryptRecords(fields, [insertValues], known);
  const update = { ...updateValues };
  for (const name of fields.byName.keys()) {
    if (
      Object.hasOwn(update, name) &&
      Object.hasOwn(insertValues, name) &&
      update[name] === insertValues[name]
    ) {
      update[name] = sealedInsert![name];
    }
  }
  const [sealedUpdate] = await encryptRecords(fields, [update], known);
  return [sealedInsert!, sealedUpdate!];
}

/**
 * Replaces the tokens the database handed back (RETURNING, or Sequelize copying the written
 * values) by their plaintext, in place: the ones this write made from `known`, others decrypted.
 */
export async function restorePlaintext(
  config: FieldSet,
  targets: readonly Values[],
  known: Known,
): Promise<void> {
  const cells: (Cells<string> & { readonly name: string; readonly pending: Values[] })[] = [];
  for (const [name, field] of config.byName) {
    const byTenant = new Map<string | undefined, { pending: Values[]; tokens: string[] }>();
    for (const target of targets) {
      if (!Object.hasOwn(target, name)) continue;
      const value = target[name];
      if (!field.envelope.isEncrypted(value)) continue;
      const plain = known.get(value);
      if (plain !== undefined) {
        target[name] = plain;
        continue;
      }
      const tenant = field.tenant ? rowTenant(field, target, 0, undefined) : undefined;
      let group = byTenant.get(tenant);
      if (group === undefined) {
        group = { pending: [], tokens: [] };
        byTenant.set(tenant, group);
      }
      group.pending.push(target);
      group.tokens.push(value);
    }
    for (const [tenant, { pending, tokens }] of byTenant)
      cells.push({ field, values: tokens, name, pending, tenant });
  }
  const opened = await openFields(cells);
  for (const [c, { name, pending }] of cells.entries()) {
    for (const [i, target] of pending.entries()) target[name] = opened[c]![i];
  }
}

/** After a write: the instance's data values hold plaintext; its previous values too, where they held the same token. */
export async function restoreInstances(
  config: FieldSet,
  instances: readonly unknown[],
  known: Known,
): Promise<void> {
  const live = instances.filter(isInstance);
  if (live.length === 0) return;
  // Bytes written stay bytes in an instance no RETURNING row replaced: give it the string a
  // read returns.
  for (const inst of live) {
    for (const name of config.byName.keys()) {
      const value = inst.dataValues[name];
      if (value instanceof Uint8Array) inst.dataValues[name] = textOf(value);
    }
  }
  const before = live.map((inst) => ({ ...inst.dataValues }));
  await restorePlaintext(
    config,
    live.map((inst) => inst.dataValues),
    known,
  );
  for (const [i, inst] of live.entries()) {
    const previous = inst._previousDataValues;
    if (!previous) continue;
    for (const name of config.byName.keys()) {
      if (
        Object.hasOwn(previous, name) &&
        previous[name] === before[i]![name] &&
        before[i]![name] !== inst.dataValues[name]
      ) {
        previous[name] = inst.dataValues[name];
      }
    }
  }
}

/** The fields of `set` by the attribute names of `model`, a model without encrypted fields over the same table. */
function byModelAttributes(set: FieldSet, model: unknown): FieldSet {
  const attributes = (model as { rawAttributes?: unknown } | undefined)?.rawAttributes;
  if (typeof attributes !== 'object' || attributes === null) return set;
  const byName = new Map(set.byName);
  for (const [attribute, definition] of Object.entries(attributes)) {
    const column = (definition as { field?: unknown } | null)?.field;
    const field = set.byName.get(typeof column === 'string' ? column : attribute);
    if (field && !byName.has(attribute)) byName.set(attribute, field);
  }
  return { byName };
}

/**
 * After a write: the instances and rows it handed back (the instance saved, RETURNING rows,
 * nested one level) hold plaintext. An instance of a model with encrypted fields is restored
 * by that model's fields; any other by `set` (the table's encrypted columns) and its model's
 * attribute names for them; plain rows by `set` and the attribute names of `model`. Tokens the
 * write made come from `known`; others are decrypted.
 */
export async function restoreReturned(
  set: FieldSet,
  result: unknown,
  known: Known,
  model?: unknown,
): Promise<void> {
  const items = new Set<unknown>();
  for (const item of Array.isArray(result) ? result : [result]) {
    if (Array.isArray(item)) for (const inner of item) items.add(inner);
    else items.add(item);
  }
  const sets = new Map<unknown, FieldSet>();
  const instances = new Map<FieldSet, unknown[]>();
  const rows: Values[] = [];
  for (const item of items) {
    if (isInstance(item)) {
      const model = (item as { constructor?: unknown }).constructor;
      let own = sets.get(model);
      if (!own) {
        own = configOf(model) ?? byModelAttributes(set, model);
        sets.set(model, own);
      }
      const list = instances.get(own);
      if (list) list.push(item);
      else instances.set(own, [item]);
    } else if (typeof item === 'object' && item !== null && !Buffer.isBuffer(item)) {
      rows.push(item as Values);
    }
  }
  for (const [own, list] of instances) await restoreInstances(own, list, known);
  if (rows.length > 0)
    await restorePlaintext(model ? byModelAttributes(set, model) : set, rows, known);
}

/**
 * After an instance's insert or update: its index attributes hold the index values the write
 * stored (`sealed`, keyed by index attribute or column), current and previous, so that the
 * instance reads as the row and a later `save` does not see them changed.
 */
export function syncIndexes(instance: unknown, sealed: Values | undefined): void {
  const config = configOf((instance as { constructor?: unknown } | null)?.constructor);
  if (!config || !sealed || !isInstance(instance)) return;
  for (const field of config.byAttribute.values()) {
    for (const [j, { column: attribute }] of field.indexes.entries()) {
      const key = [field.indexColumns[j]!, attribute].find((k) => Object.hasOwn(sealed, k));
      if (key === undefined) continue;
      instance.dataValues[attribute] = sealed[key];
      if (instance._previousDataValues) instance._previousDataValues[attribute] = sealed[key];
    }
  }
}
