/**
 * Lookups by a blind index: an equality or `IN` filter on an encrypted field with a `blindIndex`
 * (`where: { tokenHash: x }`, `{ [Op.in]: [...] }`, in `Op.and` / `Op.or` / `Op.not`, in an
 * include's `where`, as `$Alias.tokenHash$`) becomes `IN` on its first index attribute, with
 * core's `indexLookupValues` (one value per loaded index key: both during a rotation inside one
 * column). A null test stays on the field (`IS NULL`). `query-rules.ts` has already refused
 * every other filter on an encrypted field, so what is left is only rewritten here.
 */
import { indexLookupValues } from '@cmek/core';
import { Op, Utils } from 'sequelize';
import { lookupPath, lookupValues } from './lookup-form';
import { type FieldConfig, type FieldSet, indexKeyOf } from './options';
import {
  type FindLike,
  type IncludeLike,
  includeResolver,
  ownResolver,
  type Resolve,
} from './query-rules';

type Where = Record<string | symbol, unknown>;

/**
 * The key of the index beside `key`: `tokenHash` → `tokenHashBidx`, `token_hash` →
 * `token_hash_bidx`; in a `$A.tokenHash$` path, which Sequelize passes to SQL as it is, the
 * index column: `$A.token_hash_bidx$`.
 */
function besideKey(key: string, path: readonly string[], field: FieldConfig): string {
  if (!key.startsWith('$')) return indexKeyOf(field, key, 0);
  return `$${[...path.slice(0, -1), field.indexColumns[0]!].join('.')}$`;
}

/** `where` with each lookup on an indexed field rewritten onto its index; the same object when none. */
export function rewriteWhere(where: unknown, resolve: Resolve, depth = 0): unknown {
  if (depth > 64 || where === null || typeof where !== 'object') return where;
  if (Array.isArray(where)) {
    const out = where.map((item) => rewriteWhere(item, resolve, depth + 1));
    return out.some((item, i) => item !== where[i]) ? out : where;
  }
  if (where instanceof Utils.SequelizeMethod || Buffer.isBuffer(where) || where instanceof Date)
    return where;
  const source = where as Where;
  let out: Where | undefined;
  const more: Where[] = [];
  for (const key of Object.keys(source)) {
    const path = lookupPath(key);
    const field = path === undefined ? undefined : resolve(path);
    if (!field?.indexer || field.indexes.length === 0) continue;
    const values = lookupValues(source[key]);
    if (values === undefined || values === null) continue;
    const found = indexLookupValues(
      field.indexer,
      { label: field.display, context: field.context, index: field.indexes[0]! },
      values,
    );
    out ??= { ...source };
    delete out[key];
    const indexKey = besideKey(key, path!, field);
    // the index itself filtered too: both conditions hold
    if (Object.hasOwn(out, indexKey)) more.push({ [indexKey]: { [Op.in]: found } });
    else out[indexKey] = { [Op.in]: found };
  }
  for (const symbol of Object.getOwnPropertySymbols(source)) {
    const inner = rewriteWhere(source[symbol], resolve, depth + 1);
    if (inner === source[symbol]) continue;
    out ??= { ...source };
    out[symbol] = inner;
  }
  if (out === undefined) return where;
  return more.length === 0 ? out : { [Op.and]: [out, ...more] };
}

function rewriteIncludes(includes: readonly IncludeLike[] | undefined, depth = 0): void {
  if (!includes || depth > 16) return;
  for (const inc of includes) {
    const resolve = includeResolver(inc);
    if (resolve && inc.where !== undefined) {
      const where = rewriteWhere(inc.where, resolve);
      // the include is Sequelize's own copy, validated for this query (its parent links stay)
      if (where !== inc.where) (inc as { where?: unknown }).where = where;
    }
    rewriteIncludes(inc.include, depth + 1);
  }
}

/**
 * A finder's options with its lookups rewritten: a new object when its `where` changes; the
 * includes' `where`s are replaced in Sequelize's own copies of the include entries.
 */
export function rewriteFind<T>(
  config: FieldSet | undefined,
  options: T,
  names: readonly string[],
): T {
  const find = options as FindLike | undefined;
  if (typeof find !== 'object' || find === null) return options;
  rewriteIncludes(find.include);
  if (find.where === undefined) return options;
  const where = rewriteWhere(find.where, ownResolver(config, find.include, names));
  return where === find.where ? options : ({ ...find, where } as T);
}
