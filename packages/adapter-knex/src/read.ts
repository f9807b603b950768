/**
 * Decryption of result sets, by encrypted column, through core's `openCells`: the planned keys
 * of a query's rows (or plucked values), `decryptRows`' rows, and streamed rows batch by batch.
 * Any other ciphertext in a result is refused, never handed out as it is.
 */
import { Transform } from 'node:stream';
import {
  BLIND_INDEX_PREFIX,
  CmekQueryError,
  type Envelope,
  openCells,
  tenantIdOf,
} from '@cmek/core';
import type { Identifiers } from './identifiers';
import { isPlainRow, type RowObject } from './internals';
import type { QueryPlan } from './plan';
import { type ColumnTarget, cellsOf, columnLabel, sameTarget } from './target';
import { tenantContextOf, tenantKeyIn } from './tenant';

/** The tenant id of a read row; a row without the table's tenant column is refused. */
function rowTenant(target: ColumnTarget, row: RowObject): string | undefined {
  const key = tenantKeyIn(target.table, row);
  if (key === undefined) {
    throw new CmekQueryError(
      columnLabel(target),
      `a read of ${columnLabel(target)} without ${target.table.name}.${target.table.tenantColumn}, the tenant column: its values are decrypted under their row's tenant; select the tenant column with them`,
    );
  }
  return tenantIdOf(row[key]);
}

/** `pluck` of a column under tenants: the plucked values carry no tenant. */
function pluckRefused(target: ColumnTarget): CmekQueryError {
  return new CmekQueryError(
    columnLabel(target),
    `pluck() of ${columnLabel(target)}: its values are decrypted under their row's tenant, which pluck() does not return; select it with ${target.table.name}.${target.table.tenantColumn}`,
  );
}

const PREFIX = Buffer.from('cmek:', 'ascii');

/** A BLOB column's token: a Buffer that starts as a token does. */
function isTokenBuffer(value: unknown): value is Buffer {
  return Buffer.isBuffer(value) && value.subarray(0, PREFIX.length).equals(PREFIX);
}

/** A stored value as a string to decrypt: BLOB columns come back as Buffers. */
function stored(value: unknown): unknown {
  return isTokenBuffer(value) ? value.toString('utf8') : value;
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

/** A blind-index value (`cmek:bi1:…`) is no ciphertext: it is read as it is. */
function isToken(value: unknown): boolean {
  if (typeof value === 'string') {
    return value.startsWith('cmek:') && !value.startsWith(BLIND_INDEX_PREFIX);
  }
  return isTokenBuffer(value) && !value.toString('latin1', 0, 9).startsWith(BLIND_INDEX_PREFIX);
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
      else if (previous && !sameTarget(previous, target)) {
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
  const cells = new Map<
    string,
    { target: ColumnTarget; tenant: string | undefined; at: [RowObject, string][] }
  >();
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
      const tenant = target.table.tenantColumn === undefined ? undefined : rowTenant(target, row);
      const id = `${target.table.name}\u0000${target.column}\u0000${tenant ?? ''}`;
      let group = cells.get(id);
      if (group === undefined) {
        group = { target, tenant, at: [] };
        cells.set(id, group);
      }
      group.at.push([row, key]);
    }
  }
  const groups = [...cells.values()];
  const opened = await openCells(
    envelope,
    groups.map(({ target, tenant, at }) => ({
      ...storedCells(
        target,
        at.map(([row, key]) => row[key]),
      ),
      context: tenantContextOf(target, tenant),
    })),
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
    if (plan.pluck?.table.tenantColumn !== undefined) throw pluckRefused(plan.pluck);
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

/** Rows a stream decrypts together at most: one `decryptMany` per column per batch. */
const STREAM_BATCH = 500;

/**
 * Decrypts streamed rows in batches: the rows that arrive together (a driver pushes a page of
 * rows in one tick) are decrypted with one `decryptMany` per column, and a batch is flushed when
 * it is full, when no more rows arrive in the same turn of the event loop, or at the end.
 * Rows come out in order.
 */
export function decryptingStream(
  envelope: Envelope,
  plan: QueryPlan,
  identifiers: Identifiers,
): Transform {
  let batch: unknown[] = [];
  let scheduled = false;
  let chain: Promise<void> = Promise.resolve();
  const flush = (): Promise<void> => {
    scheduled = false;
    const rows = batch;
    batch = [];
    chain = chain.then(async () => {
      if (rows.length === 0) return;
      await decryptRowsInPlace(envelope, plan.read, rows, identifiers, plan.plain);
      for (const row of rows) out.push(row);
    });
    return chain;
  };
  const out = new Transform({
    objectMode: true,
    transform(row: unknown, _encoding, callback) {
      batch.push(row);
      if (batch.length >= STREAM_BATCH) {
        flush().then(
          () => callback(),
          (error: unknown) => callback(error as Error),
        );
        return;
      }
      if (!scheduled) {
        scheduled = true;
        setImmediate(() => {
          if (scheduled) flush().catch((error: unknown) => out.destroy(error as Error));
        });
      }
      callback();
    },
    flush(callback) {
      flush().then(
        () => callback(),
        (error: unknown) => callback(error as Error),
      );
    },
  });
  return out;
}
