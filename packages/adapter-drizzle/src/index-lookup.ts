/**
 * Lookups through a blind index: in a filter, `eq(col, value)` and `inArray(col, [values])` on an
 * encrypted column with a `blindIndex` become `inArray(<index column>, [index values])` (core's
 * `indexLookupValues`: each value's index under every loaded key during a rotation inside one
 * column). The rewrite is synchronous and calls no KEK. Everything else on the column (`ne`,
 * `like`, `gt`, `isNull`, a placeholder, another column) is left as it is, and refused by the
 * query rules.
 */
import { indexLookupValues } from '@cmek/core';
import { type Column, inArray, is, Param, SQL, StringChunk } from 'drizzle-orm';
import { isColumn, tableColumns } from './columns';
import { type CmekConfig, encryptedField, type FieldConfig } from './options';

function text(chunk: unknown): string | undefined {
  return is(chunk, StringChunk) ? (chunk as StringChunk).value.join('') : undefined;
}

/**
 * A value Drizzle's `eq` / `inArray` bound as it is (not SQL, a placeholder, a date or null: those
 * stay refused; a number is refused by `indexLookupValues`).
 */
function bound(chunk: unknown): chunk is Param {
  if (!is(chunk, Param)) return false;
  const { value } = chunk as Param;
  return typeof value !== 'object' || value instanceof Uint8Array;
}

/** The lookup `node` is (`${col} = ${v}` or `${col} in ${[v…]}`), if it is one. */
function lookupOf(
  config: CmekConfig,
  node: SQL,
): { column: Column; field: FieldConfig; values: unknown[] } | undefined {
  const q = node.queryChunks;
  if (q.length !== 5 || text(q[0]) !== '' || text(q[4]) !== '' || !isColumn(q[1])) return;
  const field = encryptedField(config, q[1]);
  if (!field || field.indexes.length === 0) return;
  const op = text(q[2]);
  if (op === ' = ' && bound(q[3])) return { column: q[1], field, values: [q[3].value] };
  if (op === ' in ' && Array.isArray(q[3]) && q[3].length > 0 && q[3].every(bound)) {
    return { column: q[1], field, values: (q[3] as Param[]).map((p) => p.value) };
  }
  return undefined;
}

/** The lookup column, through the same table (or alias) as the encrypted column filtered on. */
function indexColumnOf(column: Column, field: FieldConfig): Column {
  const index = field.indexes[0]!;
  return tableColumns(column.table)?.[index.key] ?? index.column;
}

/**
 * `node` with every lookup on an indexed encrypted column rewritten to its index column (a new
 * tree; `node` itself is not changed). A tree without one is returned as it is.
 */
export function rewriteLookups(config: CmekConfig, node: unknown): unknown {
  if (config.indexColumns.size === 0 || node === null || typeof node !== 'object') return node;
  if (Array.isArray(node)) {
    const items = node.map((item) => rewriteLookups(config, item));
    return items.some((item, i) => item !== node[i]) ? items : node;
  }
  if (!is(node, SQL)) return node;
  const lookup = lookupOf(config, node);
  if (lookup) {
    const { column, field, values } = lookup;
    const index = field.indexes[0]!;
    return inArray(
      indexColumnOf(column, field),
      indexLookupValues(
        config.indexer!,
        { label: field.indexLabel, context: field.context, index: index.spec },
        values,
      ),
    );
  }
  const chunks = rewriteLookups(config, node.queryChunks) as SQL['queryChunks'];
  return chunks === node.queryChunks ? node : new SQL(chunks);
}

/** A relational query's config (`findMany` / `findFirst`), as far as the rewrite reads it. */
interface RelationalConfig {
  readonly where?: unknown;
  readonly with?: Record<string, unknown>;
}

type Where = (fields: unknown, operators: unknown) => unknown;

/**
 * A copy of a relational query's config with the lookups of its `where` rewritten, at every level
 * of `with` (a `where` given as a function is rewritten when Drizzle calls it).
 */
export function rewriteRelationalLookups<C>(config: CmekConfig, query: C): C {
  if (config.indexColumns.size === 0 || typeof query !== 'object' || query === null) return query;
  const q = query as RelationalConfig;
  const out: Record<string, unknown> = { ...q };
  if (typeof q.where === 'function') {
    const where = q.where as Where;
    out.where = (fields: unknown, operators: unknown) =>
      rewriteLookups(config, where(fields, operators));
  } else if (q.where !== undefined) {
    out.where = rewriteLookups(config, q.where);
  }
  if (typeof q.with === 'object' && q.with !== null) {
    out.with = Object.fromEntries(
      Object.entries(q.with).map(([name, nested]) => [
        name,
        rewriteRelationalLookups(config, nested),
      ]),
    );
  }
  return out as C;
}
