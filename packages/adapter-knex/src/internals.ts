/**
 * The parts of Knex 3's query builder state this adapter reads. Knex keeps a builder's state in
 * `_method`, `_single` and `_statements`; these types name only what the adapter relies on.
 */

export interface Statement {
  readonly grouping?: string;
  readonly type?: string;
  readonly column?: unknown;
  readonly value?: unknown;
  readonly method?: string;
  readonly alias?: unknown;
  readonly asColumn?: boolean;
  /** A `whereBasic`'s operator (`=`, `like`, …). */
  readonly operator?: unknown;
  /** `whereNot`, `whereNotIn`, … */
  readonly not?: boolean;
  /** `and` / `or`. */
  readonly bool?: unknown;
  readonly distinct?: boolean;
  readonly distinctOn?: boolean;
  /** A JoinClause's joined table. */
  readonly table?: unknown;
  /** A JoinClause's conditions. */
  readonly clauses?: readonly Statement[];
  readonly joinType?: string;
}

export interface BuilderState {
  _method: string;
  _single: Record<string, unknown>;
  _statements: Statement[];
  client: ClientLike;
  then: (onFulfilled?: unknown, onRejected?: unknown) => Promise<unknown>;
  clone(): BuilderState;
  toSQL(): unknown;
}

export interface ClientLike {
  queryBuilder(): BuilderState;
}

export function isBuilder(value: unknown): value is BuilderState {
  return (
    typeof value === 'object' &&
    value !== null &&
    Array.isArray((value as { _statements?: unknown })._statements) &&
    typeof (value as { _single?: unknown })._single === 'object' &&
    typeof (value as { toSQL?: unknown }).toSQL === 'function'
  );
}

export function isRaw(value: unknown): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { isRawInstance?: unknown }).isRawInstance === true
  );
}

/** A `knex.ref()` value. */
export function isRef(value: unknown): boolean {
  return typeof value === 'object' && value !== null && value.constructor?.name === 'Ref';
}

const OBJECT_UPDATES = Symbol('cmek.knex.objectUpdates');

/**
 * The columns `update(column, value)` was given a plain object for, with its JSON text: Knex
 * writes such a value as JSON when `update` is called, so the adapter records it then and
 * refuses it when the query runs (an object is no value of an encrypted column).
 */
export function objectUpdatesOf(builder: object, create = false): Map<string, string> | undefined {
  const state = builder as Record<symbol, Map<string, string> | undefined>;
  if (create) state[OBJECT_UPDATES] ??= new Map();
  return state[OBJECT_UPDATES];
}

export function isPlainObject(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** A row a write takes or a read returns: a plain object, not SQL (raw) and not a subquery. */
export type RowObject = Record<string, unknown>;

export function isPlainRow(value: unknown): value is RowObject {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !isRaw(value) &&
    !isBuilder(value)
  );
}

/** The state Knex builds from a callback (`where(function () { … })`, a subquery function). */
export function scratchBuilder(
  client: ClientLike,
  fn: (this: unknown, b: unknown) => void,
): BuilderState {
  const builder = client.queryBuilder();
  fn.call(builder, builder);
  return builder;
}

/** The conditions of `join(t, function () { … })`: Knex calls it on a fresh JoinClause. */
export function joinClausesOf(client: ClientLike, fn: unknown): readonly Statement[] {
  const joined = (
    client.queryBuilder() as unknown as { join(t: string, fn: unknown): BuilderState }
  ).join('cmek_scratch', fn);
  return joined._statements.at(-1)?.clauses ?? [];
}
