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
