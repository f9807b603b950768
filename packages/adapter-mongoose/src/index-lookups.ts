/**
 * Equality lookups on a blind-indexed path: a filter `{ token: x }`, `{ token: { $eq: x } }` or
 * `{ token: { $in: [x, y] } }` (at the top of a filter, or inside `$and` / `$or` / `$nor`) becomes
 * `{ tokenBidx: { $in: [...] } }` on the path's first index path, with core's
 * `indexLookupValues` (synchronous, no KEK call; during a rotation of the index key inside one
 * path, both keys' values). Any other condition on the path (`$ne`, `$nin`, `$regex`, ranges,
 * `null`) is left as it is, for query-rules.ts to answer or refuse.
 */
import {
  type BlindIndexer,
  type BlindIndexOptions,
  CmekQueryError,
  indexLookupValues,
} from '@cmek/core';
import { isObject } from './objects';
import type { ContextOf } from './options';
import type { FieldPath } from './paths';
import type { Holder } from './slots';

/** What a lookup needs of the plugin's configuration. */
export interface LookupConfig {
  readonly fields: readonly FieldPath[];
  readonly indexer: BlindIndexer | undefined;
  readonly indexes: ReadonlyMap<string, readonly BlindIndexOptions[]>;
}

/** The plaintexts an equality condition looks up, or `undefined` for any other condition. */
function lookedUp(condition: unknown): string[] | undefined {
  if (typeof condition === 'string') return [condition];
  if (!isObject(condition)) return undefined;
  const keys = Object.keys(condition);
  if (keys.length !== 1) return undefined;
  const arg = condition[keys[0]!];
  if (keys[0] === '$eq' && typeof arg === 'string') return [arg];
  if (keys[0] === '$in' && Array.isArray(arg) && arg.every((v) => typeof v === 'string')) {
    return arg as string[];
  }
  return undefined;
}

/** Adds `{ column: condition }` to a filter being built, in `$and` if the key is taken. */
function addCondition(out: Holder, column: string, condition: unknown): void {
  if (!Object.hasOwn(out, column)) {
    out[column] = condition;
    return;
  }
  const and = Array.isArray(out.$and) ? out.$and : [];
  out.$and = [...and, { [column]: condition }];
}

/**
 * The filter with its equality conditions on blind-indexed paths rewritten to their index paths:
 * a new object when one is (the caller's filter is not changed), else `filter` itself. `lookups`
 * receives the paths looked up.
 */
export function rewriteLookups(
  filter: unknown,
  config: LookupConfig,
  contextOf: ContextOf,
  lookups: FieldPath[] = [],
): unknown {
  const { indexer, indexes, fields } = config;
  if (indexer === undefined || indexes.size === 0 || !isObject(filter)) return filter;
  let changed = false;
  const out: Holder = {};
  for (const [key, condition] of Object.entries(filter)) {
    if ((key === '$and' || key === '$or' || key === '$nor') && Array.isArray(condition)) {
      const subs = condition.map((sub) => rewriteLookups(sub, config, contextOf, lookups));
      if (subs.some((sub, i) => sub !== condition[i])) changed = true;
      addCondition(out, key, subs);
      continue;
    }
    const specs = indexes.get(key);
    const values = specs === undefined ? undefined : lookedUp(condition);
    if (specs === undefined || values === undefined) {
      addCondition(out, key, condition);
      continue;
    }
    const field = fields.find((f) => f.path === key)!;
    const index = specs[0]!;
    const context = contextOf(field);
    const label = typeof context.field === 'string' ? context.field : field.path;
    addCondition(out, index.column, {
      $in: indexLookupValues(indexer, { label, context, index }, values),
    });
    lookups.push(field);
    changed = true;
  }
  return changed ? out : filter;
}

/**
 * Refuses an upsert whose filter was rewritten: MongoDB would copy the index value, not the
 * encrypted value, into the document it inserts.
 */
export function refuseUpsertLookup(lookups: readonly FieldPath[]): void {
  const field = lookups[0];
  if (field === undefined) return;
  throw new CmekQueryError(
    field.path,
    `an upsert whose filter looks up the encrypted path '${field.path}' by its blind index cannot insert the value (MongoDB would copy the index into the new document, not the value): look the document up first, then create or update it`,
  );
}
