/** The write side: encrypting the values that reach the database, and giving instances their plaintext back. */
import {
  type CmekError,
  CmekInvalidInputError,
  CmekQueryError,
  encryptFieldValues,
} from '@cmek/core';
import { Utils } from 'sequelize';
import type { FieldConfig, ModelConfig } from './config';

export type Values = Record<string, unknown>;

/** Token → plaintext for the values one write encrypted (or verified): restoring costs nothing. */
export type Known = Map<string, string>;

function notAString(field: FieldConfig, value: unknown): CmekError {
  if (value instanceof Utils.SequelizeMethod) {
    return new CmekQueryError(
      field.qualified,
      `${field.qualified} is encrypted: an SQL expression (fn, col, literal) cannot be written to it; pass the plaintext string`,
    );
  }
  return new CmekInvalidInputError(
    `${field.qualified} is encrypted and only holds strings (or null), not ${Buffer.isBuffer(value) ? 'a Buffer' : typeof value}`,
  );
}

/**
 * Copies of `records` (keyed by attribute or column names) with every encrypted field's string
 * encrypted; `null` and `undefined` stay; a valid token of the field stays as it is.
 */
export async function encryptRecords(
  config: ModelConfig,
  records: readonly Values[],
  known: Known,
): Promise<Values[]> {
  const out = records.map((record) => ({ ...record }));
  for (const [name, field] of config.byName) {
    const at: number[] = [];
    const values: string[] = [];
    for (const [i, row] of out.entries()) {
      if (!Object.hasOwn(row, name)) continue;
      const value = row[name];
      if (value === null || value === undefined) continue;
      if (typeof value !== 'string') throw notAString(field, value);
      // A token this write already made or verified (an upsert's insert and update values).
      if (known.has(value)) continue;
      at.push(i);
      values.push(value);
    }
    if (values.length === 0) continue;
    const { stored, plaintexts } = await encryptFieldValues(config.envelope, values, {
      context: field.context,
      label: field.qualified,
    });
    for (const [n, i] of at.entries()) {
      out[i]![name] = stored[n];
      known.set(stored[n]!, plaintexts[n] as string);
    }
  }
  return out;
}

/**
 * Replaces the tokens the database handed back (RETURNING, or Sequelize copying the written
 * values) by their plaintext, in place: the ones this write made from `known`, others decrypted.
 */
export async function restorePlaintext(
  config: ModelConfig,
  targets: readonly Values[],
  known: Known,
): Promise<void> {
  for (const [name, field] of config.byName) {
    const pending: [Values, string][] = [];
    for (const target of targets) {
      if (!Object.hasOwn(target, name)) continue;
      const value = target[name];
      if (!config.envelope.isEncrypted(value)) continue;
      const plain = known.get(value);
      if (plain !== undefined) target[name] = plain;
      else pending.push([target, value]);
    }
    if (pending.length === 0) continue;
    const plain = await config.envelope.decryptMany(
      pending.map(([, token]) => token),
      {
        context: field.context,
        ...(config.plaintextPolicy ? { plaintextPolicy: config.plaintextPolicy } : {}),
      },
    );
    for (const [i, [target]] of pending.entries()) target[name] = plain[i];
  }
}

/** The data values of a model instance (and its previous values, so `changed()` stays clean). */
export interface InstanceLike {
  dataValues: Values;
  _previousDataValues?: Values;
}

export function isInstance(value: unknown): value is InstanceLike {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { dataValues?: unknown }).dataValues === 'object' &&
    (value as { dataValues?: unknown }).dataValues !== null
  );
}

/** After a write: the instance's data values hold plaintext; its previous values too, where they held the same token. */
export async function restoreInstances(
  config: ModelConfig,
  instances: readonly unknown[],
  known: Known,
): Promise<void> {
  const live = instances.filter(isInstance);
  if (live.length === 0) return;
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
