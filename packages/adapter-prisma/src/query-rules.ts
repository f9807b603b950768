/**
 * Refusal of what the database would apply to ciphertext: a filter (`where`, `having`, a relation
 * filter, `cursor`), a sort (`orderBy`, `_relevance`), `distinct`, a group (`groupBy`'s `by`) or
 * a `_min` / `_max` on an encrypted field, at any depth of a query's arguments (nested `include` /
 * `select` of relations, nested writes' `where`). Each is a `CmekQueryError` naming the field,
 * thrown before the query runs; it never holds the value compared.
 *
 * `null` tests work (`{ token: null }`, `{ token: { not: null } }`, `{ equals: null }`): `null` is
 * stored as `null`. So does `_count` of an encrypted field.
 *
 * A field with a blind index also answers equality, wherever a `where` is (`AND` / `OR` / `NOT`,
 * relation filters, nested reads and writes): `{ field: x }`, `{ field: { equals: x } }` and
 * `{ field: { in: [x, y] } }` are rewritten, on a copy of the arguments, to its index field:
 * `{ index: value }` for one index value (as a `findUnique` needs, on a `@unique` index field),
 * `{ index: { in: values } }` for several (an `in`, or two keys during a rotation of the index key).
 */
import { CmekQueryError, indexLookupValues } from '@cmek/core';
import { isPlainObject, itemsOf, type ModelInfo, relatedModel, type Schema } from './data-model';
import type { FieldConfig } from './options';

const LOGICAL = new Set(['AND', 'OR', 'NOT']);
const RELATION_FILTERS = new Set(['some', 'every', 'none', 'is', 'isNot']);
const NULL_TESTS = new Set(['equals', 'not']);

function refuse(model: ModelInfo, field: string, what: string): never {
  const label = model.encrypted.get(field)?.label ?? `${model.name}.${field}`;
  throw new CmekQueryError(
    label,
    `${what} on the encrypted field ${label} is refused: the database holds only ciphertext there, so it cannot filter, sort, group or aggregate on it`,
  );
}

/** `{ field: null }`, `{ field: { equals: null } }`, `{ field: { not: null } }`. */
function isNullTest(value: unknown): boolean {
  if (value === null) return true;
  if (!isPlainObject(value)) return false;
  const keys = Object.keys(value).filter((k) => value[k] !== undefined);
  return keys.length > 0 && keys.every((k) => NULL_TESTS.has(k) && value[k] === null);
}

/** A field reference (`prisma.user.fields.email`): the column it names, compared in the database. */
interface FieldRef {
  readonly modelName: string;
  readonly name: string;
}

function isFieldRef(value: unknown): value is FieldRef {
  if (typeof value !== 'object' || value === null) return false;
  const ref = value as Record<string, unknown>;
  return (
    typeof ref.modelName === 'string' &&
    typeof ref.name === 'string' &&
    typeof ref._toGraphQLInputType === 'function'
  );
}

/**
 * A scalar filter (of any field) comparing with a field reference to an encrypted field: refused,
 * the database would compare with its ciphertext (`{ email: { equals: fields.token } }`).
 */
function refuseFieldRefs(schema: Schema, value: unknown, what: string): void {
  const items = isPlainObject(value) ? Object.values(value) : [value];
  for (const item of items) {
    if (isPlainObject(item)) refuseFieldRefs(schema, item, what);
    else if (Array.isArray(item)) for (const v of item) refuseFieldRefs(schema, v, what);
    else if (isFieldRef(item)) {
      const model = schema.get(item.modelName);
      if (model?.encrypted.has(item.name)) refuse(model, item.name, `${what} by a field reference`);
    }
  }
}

/** The values an equality filter on a field compares with, or `undefined` for another filter. */
function equalityValues(value: unknown): readonly unknown[] | undefined {
  const values = equalityOperands(value);
  return values?.some(isFieldRef) ? undefined : values;
}

function equalityOperands(value: unknown): readonly unknown[] | undefined {
  if (!isPlainObject(value)) return [value];
  const keys = Object.keys(value).filter((k) => value[k] !== undefined);
  if (keys.length !== 1) return undefined;
  if (keys[0] === 'equals') return [value.equals];
  if (keys[0] === 'in' && Array.isArray(value.in)) return value.in;
  return undefined;
}

/** An equality filter on `field` as a filter on its (first) index field. */
function lookup(field: FieldConfig, values: readonly unknown[]): unknown {
  const found = indexLookupValues(
    field.indexer!,
    { label: field.label, context: field.context, index: field.indexes[0]! },
    values,
  );
  return found.length === 1 ? found[0] : { in: found };
}

/** `items` mapped by `f`; `items` itself when `f` changed none. */
function mapItems(items: readonly unknown[], f: (item: unknown) => unknown): readonly unknown[] {
  const out = items.map(f);
  return out.every((item, i) => item === items[i]) ? items : out;
}

/** One item or a list, mapped by `f`, kept as it is when nothing changed. */
function mapEach(value: unknown, f: (item: unknown) => unknown): unknown {
  return Array.isArray(value) ? mapItems(value, f) : f(value);
}

/** `source` with `key` set to `value`, copied only on the first change (`target.out`). */
function assign(
  target: { out?: Record<string, unknown> },
  source: Record<string, unknown>,
  key: string,
  value: unknown,
): void {
  if (value === source[key] && target.out === undefined) return;
  target.out ??= { ...source };
  target.out[key] = value;
}

/**
 * A `where` (also a nested write's `where`, a relation filter) of `model`, refused where it
 * filters an encrypted field, with its equality filters on indexed fields moved to their index
 * fields; returns `where` itself when nothing was rewritten (the caller's object is never changed).
 */
export function rewriteWhere(
  schema: Schema,
  model: ModelInfo,
  where: unknown,
  what = 'a filter',
): unknown {
  if (!isPlainObject(where)) return where;
  const target: { out?: Record<string, unknown> } = {};
  const nested = (m: ModelInfo) => (item: unknown) => rewriteWhere(schema, m, item, what);
  for (const [key, value] of Object.entries(where)) {
    if (value === undefined) continue;
    const field = model.encrypted.get(key);
    if (LOGICAL.has(key)) {
      assign(target, where, key, mapEach(value, nested(model)));
    } else if (field === undefined && model.fields.has(key) && !model.relations.has(key)) {
      refuseFieldRefs(schema, value, what);
    } else if (field !== undefined) {
      if (isNullTest(value)) continue;
      const values = equalityValues(value);
      if (values === undefined || field.indexes.length === 0) refuse(model, key, what);
      const column = field.indexes[0]!.column;
      if (Object.hasOwn(where, column) && where[column] !== undefined) {
        refuse(model, key, `${what} on both the field and its blind index ${column}`);
      }
      assign(target, where, column, lookup(field, values));
      delete target.out![key];
    } else if (model.relations.has(key)) {
      const related = relatedModel(schema, model, key)!;
      if (!isPlainObject(value)) continue;
      const keys = Object.keys(value);
      if (keys.length > 0 && keys.every((k) => RELATION_FILTERS.has(k))) {
        const filters: { out?: Record<string, unknown> } = {};
        for (const k of keys) assign(filters, value, k, nested(related)(value[k]));
        assign(target, where, key, filters.out ?? value);
      } else {
        assign(target, where, key, nested(related)(value));
      }
    } else if (!model.fields.has(key) && isPlainObject(value)) {
      // a compound unique key (`email_token: { email, token }`, or a named one)
      for (const inner of Object.keys(value)) {
        if (model.encrypted.has(inner)) refuse(model, inner, what);
      }
    }
  }
  return target.out ?? where;
}

/** A `cursor`: refused on an encrypted field (a blind index does not order rows). */
function checkCursor(model: ModelInfo, cursor: unknown): void {
  if (!isPlainObject(cursor)) return;
  for (const [key, value] of Object.entries(cursor)) {
    if (value === undefined) continue;
    if (model.encrypted.has(key) && !isNullTest(value)) refuse(model, key, 'a cursor');
    if (!model.fields.has(key) && isPlainObject(value)) {
      for (const inner of Object.keys(value)) {
        if (model.encrypted.has(inner)) refuse(model, inner, 'a cursor');
      }
    }
  }
}

const AGGREGATES = ['_min', '_max', '_avg', '_sum'] as const;

/** An `orderBy` (object or list) of `model`, also `groupBy`'s with aggregates. */
export function checkOrderBy(schema: Schema, model: ModelInfo, orderBy: unknown): void {
  for (const item of itemsOf(orderBy)) {
    if (!isPlainObject(item)) continue;
    for (const [key, value] of Object.entries(item)) {
      if (value === undefined) continue;
      if (model.encrypted.has(key)) refuse(model, key, 'a sort');
      if (key === '_relevance' && isPlainObject(value)) {
        for (const field of itemsOf(value.fields)) {
          if (typeof field === 'string' && model.encrypted.has(field)) {
            refuse(model, field, 'a relevance sort');
          }
        }
      } else if ((AGGREGATES as readonly string[]).includes(key) && isPlainObject(value)) {
        for (const field of Object.keys(value)) {
          if (model.encrypted.has(field)) refuse(model, field, `a sort by ${key}`);
        }
      } else if (model.relations.has(key) && isPlainObject(value)) {
        // to-one: the related model's orderBy; to-many: `{ _count: 'asc' }`
        checkOrderBy(schema, relatedModel(schema, model, key)!, value);
      }
    }
  }
}

function checkFieldList(model: ModelInfo, fields: unknown, what: string): void {
  for (const field of itemsOf(fields)) {
    if (typeof field === 'string' && model.encrypted.has(field)) refuse(model, field, what);
  }
}

/** `_min` / `_max` (and `_avg` / `_sum`, which Prisma only has for numbers) of an aggregate. */
function checkAggregates(model: ModelInfo, args: Record<string, unknown>): void {
  for (const key of AGGREGATES) {
    const value = args[key];
    if (!isPlainObject(value)) continue;
    for (const [field, on] of Object.entries(value)) {
      if (on && model.encrypted.has(field)) refuse(model, field, `${key}`);
    }
  }
}

/**
 * The arguments of a read of `model` (and of a nested `include` / `select` of a relation), checked
 * and with their lookups rewritten (a copy where anything changed).
 */
export function rewriteReadArgs(schema: Schema, model: ModelInfo, args: unknown): unknown {
  if (!isPlainObject(args)) return args;
  const target: { out?: Record<string, unknown> } = {};
  if (args.where !== undefined)
    assign(target, args, 'where', rewriteWhere(schema, model, args.where));
  checkCursor(model, args.cursor);
  checkOrderBy(schema, model, args.orderBy);
  checkFieldList(model, args.distinct, 'distinct');
  for (const key of ['select', 'include'] as const) {
    if (args[key] !== undefined)
      assign(target, args, key, rewriteSelection(schema, model, args[key]));
  }
  return target.out ?? args;
}

/** A `select` / `include`: the nested reads of relations, and `_count`'s relation filters. */
function rewriteSelection(schema: Schema, model: ModelInfo, selection: unknown): unknown {
  if (!isPlainObject(selection)) return selection;
  const target: { out?: Record<string, unknown> } = {};
  for (const [key, value] of Object.entries(selection)) {
    if (key === '_count' && isPlainObject(value) && isPlainObject(value.select)) {
      const counts: { out?: Record<string, unknown> } = {};
      for (const [relation, count] of Object.entries(value.select)) {
        const related = relatedModel(schema, model, relation);
        if (related !== undefined && isPlainObject(count) && count.where !== undefined) {
          const where = rewriteWhere(schema, related, count.where);
          if (where !== count.where) assign(counts, value.select, relation, { ...count, where });
        }
      }
      if (counts.out !== undefined)
        assign(target, selection, key, { ...value, select: counts.out });
    } else if (isPlainObject(value)) {
      const related = relatedModel(schema, model, key);
      if (related !== undefined)
        assign(target, selection, key, rewriteReadArgs(schema, related, value));
    }
  }
  return target.out ?? selection;
}

/** `groupBy`: `by`, `having` (refused on an encrypted field, whatever it tests) and aggregates. */
function checkGroupBy(schema: Schema, model: ModelInfo, args: Record<string, unknown>): void {
  checkFieldList(model, args.by, 'a groupBy');
  const checkHaving = (having: unknown): void => {
    if (!isPlainObject(having)) return;
    for (const [key, value] of Object.entries(having)) {
      if (LOGICAL.has(key)) for (const item of itemsOf(value)) checkHaving(item);
      else if (model.encrypted.has(key) && value !== undefined) refuse(model, key, 'a having');
      else refuseFieldRefs(schema, value, 'a having');
    }
  };
  checkHaving(args.having);
}

/**
 * Checks the arguments of one model operation (the writes' data is checked by `write.ts`) and
 * returns them with their lookups rewritten (a copy where anything changed).
 */
export function checkOperation(
  schema: Schema,
  model: ModelInfo,
  operation: string,
  args: Record<string, unknown>,
): Record<string, unknown> {
  const out = rewriteReadArgs(schema, model, args) as Record<string, unknown>;
  checkAggregates(model, args);
  if (operation === 'groupBy') checkGroupBy(schema, model, args);
  return out;
}
