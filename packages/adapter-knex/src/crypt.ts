/** Encrypting a query's pending values and decrypting its result, per the query's plan. */
import {
  assertFieldValue,
  CmekInvalidInputError,
  CmekQueryError,
  type Envelope,
  type FieldCells,
  openCells,
  sealCells,
} from '@cmek/core';
import type { ColumnTarget, QueryPlan, WriteTargets } from './analyze';
import type { Identifiers } from './identifiers';
import { type BuilderState, isBuilder, isRaw, isRef, objectUpdatesOf } from './internals';
import { encryptedColumn } from './lookup';
import type { TableConfig } from './options';

type RowObject = Record<string, unknown>;

const PREFIX = Buffer.from('cmek:', 'ascii');

function isPlainRow(value: unknown): value is RowObject {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !isRaw(value) &&
    !isBuilder(value)
  );
}

function notEncryptable(target: ColumnTarget | undefined, what: string): CmekQueryError {
  const name = target ? `${target.table.name}.${target.column}` : 'an encrypted column';
  return new CmekQueryError(
    target?.column ?? '(write)',
    `${what} for ${name} cannot be encrypted: pass the plaintext value itself`,
  );
}

/** What a value Knex would write as SQL rather than bind is, for the refusal's message. */
function sqlValueType(value: unknown): string | undefined {
  if (isRef(value)) return 'a knex.ref() reference';
  if (isRaw(value)) return 'a knex.raw() SQL fragment';
  if (isBuilder(value) || typeof value === 'function') return 'a subquery';
  return undefined;
}

/**
 * Refuses, before Knex or the driver sees it, a value an encrypted column cannot take: SQL
 * (raw, ref, subquery) and every non-string (numbers, booleans, objects, arrays, Dates, …).
 * The message names the column and the type, never the value.
 */
function assertColumnValue(target: ColumnTarget, value: unknown): void {
  const label = `${target.table.name}.${target.column}`;
  const sql = sqlValueType(value);
  if (sql !== undefined) {
    throw new CmekInvalidInputError(
      `${label} is encrypted and takes a string or null, not ${sql}: pass the plaintext value itself`,
    );
  }
  assertFieldValue(value, label);
}

export type TargetOf = (key: string) => ColumnTarget | undefined;

/** The write targets of one configured table (for `encryptRow`), in any letter case. */
export function tableTargets(table: TableConfig): TargetOf {
  return (key) => {
    const column = encryptedColumn(table, key);
    return column === undefined ? undefined : { table, column };
  };
}

/** How a column is named in an error, and the context its values are bound to. */
function cellsOf<V>(target: ColumnTarget, values: readonly V[]): FieldCells<V> {
  return {
    label: `${target.table.name}.${target.column}`,
    context: target.table.contexts.get(target.column)!,
    values,
  };
}

/** Copies of `rows` with every value of an encrypted column encrypted (null stays null). */
export async function encryptRows(
  envelope: Envelope,
  targetOf: TargetOf,
  rows: readonly RowObject[],
): Promise<RowObject[]> {
  const out = rows.map((row) => {
    if (!isPlainRow(row)) {
      throw new CmekInvalidInputError('a row written to an encrypted table must be a plain object');
    }
    return { ...row };
  });
  const keys = new Map<string, ColumnTarget>();
  for (const row of out) {
    for (const key in row) {
      if (keys.has(key)) continue;
      const target = targetOf(key);
      if (target) keys.set(key, target);
    }
  }
  // every value checked before any is encrypted: a refused value costs no KEK call
  const columns = [...keys].map(([key, target]) => {
    const at: number[] = [];
    const values: (string | Uint8Array | null | undefined)[] = [];
    for (const [i, row] of out.entries()) {
      if (!Object.hasOwn(row, key)) continue;
      const value = row[key];
      assertColumnValue(target, value);
      at.push(i);
      values.push(value as string | Uint8Array | null | undefined);
    }
    return { key, target, at, values };
  });
  // one call per column, every column at once; a token of the column is stored as it is
  const sealed = await sealCells(
    envelope,
    columns.map(({ target, values }) => cellsOf(target, values)),
  );
  for (const [c, { key, at }] of columns.entries()) {
    const tokens = sealed[c]!.stored;
    for (const [n, i] of at.entries()) out[i]![key] = tokens[n] ?? null;
  }
  return out;
}

/**
 * Encrypts the values an insert / update / upsert / merge is about to send, in place on the
 * builder; returns the function that puts the caller's values back once the query has run.
 */
export async function encryptPending(
  envelope: Envelope,
  write: WriteTargets,
  builder: BuilderState,
): Promise<() => void> {
  const single = builder._single;
  const saved: [string, unknown][] = [];
  const replace = (key: string, value: unknown): void => {
    saved.push([key, single[key]]);
    single[key] = value;
  };
  const some = write.table
    ? { table: write.table, column: write.table.columns.values().next().value as string }
    : undefined;
  const { targetOf } = write;
  for (const key of ['insert', 'upsert'] as const) {
    const pending = single[key];
    if (pending === undefined || pending === null) continue;
    if (Array.isArray(pending)) replace(key, await encryptRows(envelope, targetOf, pending));
    else if (isPlainRow(pending))
      replace(key, (await encryptRows(envelope, targetOf, [pending]))[0]);
    else if (some) throw notEncryptable(some, `an ${key} from a subquery or raw SQL`);
  }
  const update = single.update;
  for (const [column, json] of objectUpdatesOf(builder) ?? []) {
    const target = targetOf(column);
    // still the JSON text Knex made of the object: refused as the object it was
    if (target && isPlainRow(update) && update[column] === json) assertColumnValue(target, {});
  }
  if (isPlainRow(update)) replace('update', (await encryptRows(envelope, targetOf, [update]))[0]);
  const merge = single.merge as { updates?: unknown } | undefined;
  if (merge && isPlainRow(merge.updates)) {
    replace('merge', {
      ...merge,
      updates: (await encryptRows(envelope, targetOf, [merge.updates]))[0],
    });
  } else if (merge && some && (isRaw(merge.updates) || isBuilder(merge.updates))) {
    throw notEncryptable(some, 'a raw merge');
  }
  return () => {
    for (const [key, value] of saved.reverse()) single[key] = value;
  };
}

/** A stored value as a string to decrypt: BLOB columns come back as Buffers. */
function stored(value: unknown): unknown {
  if (Buffer.isBuffer(value) && value.subarray(0, PREFIX.length).equals(PREFIX)) {
    return value.toString('utf8');
  }
  return value;
}

/** The stored values of one column, as `openCells` takes them. */
function storedCells(target: ColumnTarget, values: readonly unknown[]) {
  return cellsOf(target, values.map(stored) as (string | null | undefined)[]);
}

function leak(key: string): CmekQueryError {
  return new CmekQueryError(
    key,
    `the result key '${key}' holds a cmek ciphertext the adapter cannot attribute to a configured column (raw SQL, an unresolvable alias or a subquery); select the column by name, or decrypt it with decryptRows`,
  );
}

function isToken(value: unknown): boolean {
  return (
    (typeof value === 'string' && value.startsWith('cmek:')) ||
    (Buffer.isBuffer(value) && value.subarray(0, PREFIX.length).equals(PREFIX))
  );
}

/** A token, or (to `depth` levels) an array or object holding one: MySQL nestTables, rowMode. */
function holdsToken(value: unknown, depth: number): boolean {
  if (isToken(value)) return true;
  if (depth === 0 || typeof value !== 'object' || value === null || Buffer.isBuffer(value)) {
    return false;
  }
  for (const v of Array.isArray(value) ? value : Object.values(value)) {
    if (holdsToken(v, depth - 1)) return true;
  }
  return false;
}

/** Each spelling of a planned key → the one encrypted column planned keys so spelled hold, or null. */
function spelledTargets(
  read: ReadonlyMap<string, ColumnTarget>,
  identifiers: Identifiers,
): Map<string, ColumnTarget | null> {
  const out = new Map<string, ColumnTarget | null>();
  for (const [key, target] of read) {
    for (const spelling of identifiers.of(key)) {
      const previous = out.get(spelling);
      if (previous === undefined) out.set(spelling, target);
      else if (previous && (previous.table !== target.table || previous.column !== target.column)) {
        out.set(spelling, null);
      }
    }
  }
  return out;
}

/** The encrypted column a result key that is not planned as such holds, by its spellings. */
function spelledTarget(
  spelled: ReadonlyMap<string, ColumnTarget | null>,
  identifiers: Identifiers,
  key: string,
): ColumnTarget | undefined {
  for (const spelling of identifiers.of(key)) {
    const target = spelled.get(spelling);
    // null: planned keys of two columns are spelled so; a token there is refused as a leak
    if (target !== undefined) return target ?? undefined;
  }
  return undefined;
}

const NO_KEYS: ReadonlySet<string> = new Set();

/**
 * Decrypts the planned keys of result rows in place, and refuses any other ciphertext.
 *
 * A planned key is matched as written first; a result key that is neither planned nor a column
 * the select list names as plain (`plain`) is then matched by its spellings: case-insensitively,
 * since SQLite names a result column as its table declares it (`select token` comes back as
 * `Token`), and through the identifier mapping, since the database returns the mapped name
 * (`access_token` for `accessToken`) and a `postProcessResponse` may rename it again.
 */
export async function decryptRowsInPlace(
  envelope: Envelope,
  read: ReadonlyMap<string, ColumnTarget>,
  rows: readonly unknown[],
  identifiers: Identifiers,
  plain: ReadonlySet<string> = NO_KEYS,
): Promise<void> {
  const objects: RowObject[] = [];
  for (const row of rows) {
    if (isPlainRow(row)) objects.push(row);
    else if (holdsToken(row, 2)) throw leak('(row)');
  }
  const spelled = spelledTargets(read, identifiers);
  /** Per encrypted column: its target, and the (row, key) cells that hold it. */
  const cells = new Map<string, { target: ColumnTarget; at: [RowObject, string][] }>();
  for (const row of objects) {
    for (const key of Object.keys(row)) {
      let target = read.get(key);
      if (target === undefined && !plain.has(key) && spelled.size > 0) {
        target = spelledTarget(spelled, identifiers, key);
      }
      if (target === undefined) {
        if (holdsToken(row[key], 2)) throw leak(key);
        continue;
      }
      const id = `${target.table.name}\u0000${target.column}`;
      let group = cells.get(id);
      if (group === undefined) {
        group = { target, at: [] };
        cells.set(id, group);
      }
      group.at.push([row, key]);
    }
  }
  const groups = [...cells.values()];
  const opened = await openCells(
    envelope,
    groups.map(({ target, at }) =>
      storedCells(
        target,
        at.map(([row, key]) => row[key]),
      ),
    ),
  );
  for (const [g, { at }] of groups.entries()) {
    const plaintexts = opened[g]!;
    for (const [i, [row, key]] of at.entries()) row[key] = plaintexts[i];
  }
}

export async function decryptResult(
  envelope: Envelope,
  plan: QueryPlan,
  result: unknown,
  identifiers: Identifiers,
): Promise<unknown> {
  if (plan.shape === 'pluck') {
    if (!Array.isArray(result)) return result;
    if (plan.pluck) return (await openCells(envelope, [storedCells(plan.pluck, result)]))[0];
    if (result.some((v) => holdsToken(v, 1))) throw leak('pluck');
    return result;
  }
  if (Array.isArray(result)) {
    await decryptRowsInPlace(envelope, plan.read, result, identifiers, plan.plain);
  } else if (isPlainRow(result)) {
    await decryptRowsInPlace(envelope, plan.read, [result], identifiers, plan.plain);
  }
  return result;
}
