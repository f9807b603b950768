/** The write side: encrypting the values that reach the database, and giving instances their plaintext back. */
import { CmekError, CmekInvalidInputError, CmekQueryError } from '@cmek/core';
import { Utils } from 'sequelize';
import type { FieldConfig, ModelConfig } from './config';

export type Values = Record<string, unknown>;

/** Token → plaintext for the values one write encrypted (or verified): restoring costs nothing. */
export type Known = Map<string, string>;

const REJECTED_TOKEN_CODES = new Set(['CMEK_DECRYPTION', 'CMEK_FORMAT', 'CMEK_UNKNOWN_KEK']);

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
 * A value that already is a token is written as it is only when it decrypts under this field's
 * context (a token read from this column, or made by the application for it): nothing is ever
 * encrypted twice, and no token of another field, another key or a damaged one gets in.
 */
async function verifyTokens(
  config: ModelConfig,
  field: FieldConfig,
  tokens: readonly string[],
  known: Known,
): Promise<void> {
  let plain: (string | null)[];
  try {
    plain = await config.envelope.decryptMany(tokens, {
      context: field.context,
      plaintextPolicy: 'allow',
    });
  } catch (error) {
    if (CmekError.isInstance(error) && REJECTED_TOKEN_CODES.has(error.code)) {
      throw new CmekInvalidInputError(
        `a value written to ${field.qualified} is a cmek token that does not decrypt as ${field.qualified} (a token of another field or key, or a damaged one); write the plaintext instead`,
        { cause: error },
      );
    }
    throw error;
  }
  for (const [i, token] of tokens.entries()) known.set(token, plain[i]!);
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
    const plainAt: number[] = [];
    const plains: string[] = [];
    const tokens: string[] = [];
    for (const [i, row] of out.entries()) {
      if (!Object.hasOwn(row, name)) continue;
      const value = row[name];
      if (value === null || value === undefined) continue;
      if (typeof value !== 'string') throw notAString(field, value);
      if (config.envelope.isEncrypted(value)) {
        if (!known.has(value)) tokens.push(value);
      } else {
        plainAt.push(i);
        plains.push(value);
      }
    }
    if (tokens.length > 0) await verifyTokens(config, field, tokens, known);
    if (plains.length === 0) continue;
    const sealed = await config.envelope.encryptMany(plains, { context: field.context });
    for (const [n, i] of plainAt.entries()) {
      const token = sealed[n]!;
      out[i]![name] = token;
      known.set(token, plains[n]!);
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
