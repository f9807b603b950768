/** Walks Drizzle SQL trees for the columns they name and the values they bind. */
import {
  type Column,
  is,
  Name,
  Param,
  Placeholder,
  SQL,
  StringChunk,
  Subquery,
  Table,
  View,
} from 'drizzle-orm';
import { columnIdentity, isColumn } from './columns';

export interface SqlVisitor {
  /** A column the SQL names (not one a bound value is encoded for). */
  column?(column: Column): void;
  /** A bound value: a `Param`, or a raw value of a `sql` template. */
  param?(param: Param | undefined, value: unknown): void;
  /** A subquery or CTE inside the SQL (its SQL is walked after). */
  subquery?(subquery: { readonly _: { readonly sql: object } }): void;
}

function hasGetSQL(value: object): value is { getSQL(): unknown } {
  return typeof (value as { getSQL?: unknown }).getSQL === 'function';
}

/** Visits every column reference and bound value of `node` (SQL, arrays, subqueries, builders). */
export function walkSql(node: unknown, visitor: SqlVisitor, seen = new Set<unknown>()): void {
  if (node === null || node === undefined) return;
  if (typeof node !== 'object') {
    // a raw value of a `sql` template is sent as a bound value
    visitor.param?.(undefined, node);
    return;
  }
  if (seen.has(node)) return;
  seen.add(node);
  if (Array.isArray(node)) {
    for (const item of node) walkSql(item, visitor, seen);
    return;
  }
  // the common chunks first, by instanceof (drizzle-orm is a peer: one copy); `is` below also
  // recognises the classes of another copy
  if (node instanceof Param) {
    visitor.param?.(node, node.value);
    return;
  }
  if (node instanceof StringChunk) return;
  if (node instanceof SQL) {
    walkSql(node.queryChunks, visitor, seen);
    return;
  }
  if (is(node, StringChunk) || is(node, Name) || is(node, Table) || is(node, View)) return;
  if (isColumn(node)) {
    visitor.column?.(node);
    return;
  }
  if (is(node, Param)) {
    visitor.param?.(node, node.value);
    return;
  }
  if (is(node, Placeholder)) {
    visitor.param?.(undefined, node);
    return;
  }
  if (is(node, SQL)) {
    walkSql(node.queryChunks, visitor, seen);
    return;
  }
  if (is(node, SQL.Aliased)) {
    walkSql(node.sql, visitor, seen);
    return;
  }
  if (is(node, Subquery)) {
    visitor.subquery?.(node as unknown as { readonly _: { readonly sql: object } });
    walkSql((node as unknown as { _: { sql: unknown } })._.sql, visitor, seen);
    return;
  }
  if (hasGetSQL(node)) {
    walkSql(node.getSQL(), visitor, seen);
    return;
  }
  if (node instanceof Date || node instanceof Uint8Array) {
    visitor.param?.(undefined, node);
  }
}

/** The columns `node` names. */
export function columnsIn(node: unknown): Column[] {
  const out: Column[] = [];
  walkSql(node, { column: (c) => out.push(c) });
  return out;
}

/** Whether `node` binds any value. */
export function bindsValues(node: unknown): boolean {
  let found = false;
  walkSql(node, {
    param: () => {
      found = true;
    },
  });
  return found;
}

const SELF = '\u0001';

/** The text of `node` with each column as `SELF` when it is `column` itself; `undefined` when
 * `node` binds a value or names another column. */
function copyText(node: unknown, column: Column): string | undefined {
  if (isColumn(node)) return columnIdentity(node) === columnIdentity(column) ? SELF : undefined;
  if (is(node, StringChunk)) return (node as StringChunk).value.join('');
  if (is(node, Name)) return `"${(node as Name).value}"`;
  if (is(node, SQL.Aliased)) return copyText((node as SQL.Aliased).sql, column);
  if (!is(node, SQL)) return undefined;
  let text = '';
  for (const chunk of (node as SQL).queryChunks) {
    const part = copyText(chunk, column);
    if (part === undefined) return undefined;
    text += part;
  }
  return text;
}

/**
 * Whether `value`, a SQL expression or a column given as the value of `column` in a write, only
 * copies `column` itself (`column`, `excluded.<column>`, `values(<column>)`) or is `NULL`: what
 * it writes is then a token of the column (or its index) or nothing. Anything else (a literal, a
 * bound value, another column) would store a value that was never encrypted.
 */
export function copiesItself(value: unknown, column: Column): boolean {
  const text = copyText(value, column)?.trim();
  if (text === undefined) return false;
  const name = column.name.toLowerCase();
  const named = (s: string) =>
    s === SELF ||
    s === `"${column.name}"` ||
    s === `\`${column.name}\`` ||
    (/^[a-z_][a-z0-9_$]*$/i.test(s) && s.toLowerCase() === name);
  if (/^null$/i.test(text) || text === SELF) return true;
  const excluded = /^excluded\s*\.\s*(.+)$/i.exec(text);
  if (excluded) return named(excluded[1]!.trim());
  const values = /^values\s*\(\s*(.+?)\s*\)$/i.exec(text);
  return values !== null && named(values[1]!);
}
