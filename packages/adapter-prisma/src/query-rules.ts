/**
 * Refusal of what the database would apply to ciphertext: a filter (`where`, `having`, a relation
 * filter, `cursor`), a sort (`orderBy`, `_relevance`), `distinct`, a group (`groupBy`'s `by`) or
 * a `_min` / `_max` on an encrypted field, at any depth of a query's arguments (nested `include` /
 * `select` of relations, nested writes' `where`). Each is a `CmekQueryError` naming the field,
 * thrown before the query runs; it never holds the value compared.
 *
 * `null` tests work (`{ token: null }`, `{ token: { not: null } }`, `{ equals: null }`): `null` is
 * stored as `null`. So does `_count` of an encrypted field.
 */
import { CmekQueryError } from '@cmek/core';
import { isPlainObject, itemsOf, type ModelInfo, relatedModel, type Schema } from './data-model';

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

/** A `where` (also `cursor`, a nested write's `where`, a relation filter) of `model`. */
export function checkWhere(
  schema: Schema,
  model: ModelInfo,
  where: unknown,
  what = 'a filter',
): void {
  if (!isPlainObject(where)) return;
  for (const [key, value] of Object.entries(where)) {
    if (value === undefined) continue;
    if (LOGICAL.has(key)) {
      for (const item of itemsOf(value)) checkWhere(schema, model, item, what);
    } else if (model.encrypted.has(key)) {
      if (!isNullTest(value)) refuse(model, key, what);
    } else if (model.relations.has(key)) {
      const related = relatedModel(schema, model, key)!;
      if (!isPlainObject(value)) continue;
      const keys = Object.keys(value);
      if (keys.length > 0 && keys.every((k) => RELATION_FILTERS.has(k))) {
        for (const k of keys) checkWhere(schema, related, value[k], what);
      } else {
        checkWhere(schema, related, value, what);
      }
    } else if (!model.fields.has(key) && isPlainObject(value)) {
      // a compound unique key (`email_token: { email, token }`, or a named one)
      for (const inner of Object.keys(value)) {
        if (model.encrypted.has(inner)) refuse(model, inner, what);
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

/** The arguments of a read of `model` (and of a nested `include` / `select` of a relation). */
export function checkReadArgs(schema: Schema, model: ModelInfo, args: unknown): void {
  if (!isPlainObject(args)) return;
  checkWhere(schema, model, args.where);
  checkWhere(schema, model, args.cursor, 'a cursor');
  checkOrderBy(schema, model, args.orderBy);
  checkFieldList(model, args.distinct, 'distinct');
  checkSelection(schema, model, args.select);
  checkSelection(schema, model, args.include);
}

/** A `select` / `include`: the nested reads of relations, and `_count`'s relation filters. */
function checkSelection(schema: Schema, model: ModelInfo, selection: unknown): void {
  if (!isPlainObject(selection)) return;
  for (const [key, value] of Object.entries(selection)) {
    if (key === '_count' && isPlainObject(value) && isPlainObject(value.select)) {
      for (const [relation, count] of Object.entries(value.select)) {
        const related = relatedModel(schema, model, relation);
        if (related !== undefined && isPlainObject(count)) checkWhere(schema, related, count.where);
      }
    } else if (isPlainObject(value)) {
      const related = relatedModel(schema, model, key);
      if (related !== undefined) checkReadArgs(schema, related, value);
    }
  }
}

/** `groupBy`: `by`, `having` (refused on an encrypted field, whatever it tests) and aggregates. */
function checkGroupBy(model: ModelInfo, args: Record<string, unknown>): void {
  checkFieldList(model, args.by, 'a groupBy');
  const checkHaving = (having: unknown): void => {
    if (!isPlainObject(having)) return;
    for (const [key, value] of Object.entries(having)) {
      if (LOGICAL.has(key)) for (const item of itemsOf(value)) checkHaving(item);
      else if (model.encrypted.has(key) && value !== undefined) refuse(model, key, 'a having');
    }
  };
  checkHaving(args.having);
}

/** Checks the arguments of one model operation (the writes' data is checked by `write.ts`). */
export function checkOperation(
  schema: Schema,
  model: ModelInfo,
  operation: string,
  args: unknown,
): void {
  if (!isPlainObject(args)) return;
  checkReadArgs(schema, model, args);
  checkAggregates(model, args);
  if (operation === 'groupBy') checkGroupBy(model, args);
}
