/**
 * The write side: checking and encrypting the values that reach the database (`sealCells`, one
 * call per field), and giving the instances and rows a write hands back their plaintext.
 */
import { isUtf8 } from 'node:buffer';
import {
  assertFieldValue,
  CmekInvalidInputError,
  CmekQueryError,
  type Encryptable,
  sealCells,
} from '@cmek/core';
import { Utils } from 'sequelize';
import { byEnvelope, type Cells } from './field-cells';
import { configOf, type FieldConfig, type FieldSet, fieldNamed } from './options';
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

/**
 * Copies of `records` (keyed by attribute or column names) with every encrypted field's string
 * (or UTF-8 bytes) encrypted; `null` and `undefined` stay; a valid token of the field stays as it is.
 */
export async function encryptRecords(
  config: FieldSet,
  records: readonly Values[],
  known: Known,
): Promise<Values[]> {
  const out = records.map((record) => ({ ...record }));
  // The keys the records use for encrypted fields, in whatever letter case they are written.
  const keys = new Map<string, FieldConfig>();
  for (const row of out) {
    for (const key of Object.keys(row)) {
      if (keys.has(key)) continue;
      const field = fieldNamed(config, key);
      if (field !== undefined) keys.set(key, field);
    }
  }
  // Every value is checked before anything is encrypted: a refused value costs no KEK call.
  const cells: (Cells<Encryptable> & { readonly name: string; readonly at: number[] })[] = [];
  for (const [name, field] of keys) {
    const at: number[] = [];
    const values: Encryptable[] = [];
    for (const [i, row] of out.entries()) {
      if (!Object.hasOwn(row, name)) continue;
      const value = row[name];
      assertWritable(field, value);
      if (value === null || value === undefined) continue;
      // A token this write already made or verified (an upsert's insert and update values).
      if (typeof value === 'string' && known.has(value)) continue;
      at.push(i);
      values.push(value);
    }
    if (values.length > 0) cells.push({ field, values, name, at });
  }
  const sealed = await byEnvelope(cells, (envelope, _policy, group) => sealCells(envelope, group));
  for (const [c, { name, at }] of cells.entries()) {
    const { stored, plaintexts } = sealed[c]!;
    for (const [n, i] of at.entries()) {
      out[i]![name] = stored[n];
      known.set(stored[n]!, textOf(plaintexts[n] as Encryptable));
    }
  }
  return out;
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
    const pending: Values[] = [];
    const tokens: string[] = [];
    for (const target of targets) {
      if (!Object.hasOwn(target, name)) continue;
      const value = target[name];
      if (!field.envelope.isEncrypted(value)) continue;
      const plain = known.get(value);
      if (plain !== undefined) target[name] = plain;
      else {
        pending.push(target);
        tokens.push(value);
      }
    }
    if (tokens.length > 0) cells.push({ field, values: tokens, name, pending });
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
