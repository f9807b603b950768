/** How the adapter recognises a Drizzle column, through table aliases and subqueries too. */
import { type Column, Column as DrizzleColumn, is, type Table } from 'drizzle-orm';

const SCHEMA = Symbol.for('drizzle:Schema');
const ORIGINAL_NAME = Symbol.for('drizzle:OriginalName');
const COLUMNS = Symbol.for('drizzle:Columns');

type SymbolKeyed = Record<symbol, unknown>;

/** The table's name as declared (an alias of the table answers the original name). */
export function tableIdentity(table: Table): string {
  const t = table as unknown as SymbolKeyed;
  const schema = typeof t[SCHEMA] === 'string' ? (t[SCHEMA] as string) : '';
  return `${schema}\u0000${String(t[ORIGINAL_NAME])}`;
}

/**
 * A column's identity: its table as declared and its name. A column read through `alias(table)`
 * or a subquery is a proxy of the declared column with another table; it has the same identity.
 */
export function columnIdentity(column: Column): string {
  return `${tableIdentity(column.table)}\u0000${column.name}`;
}

export function isColumn(value: unknown): value is Column {
  return typeof value === 'object' && value !== null && is(value, DrizzleColumn);
}

/** The table's columns by their key in the table definition. */
export function tableColumns(table: Table): Record<string, Column> {
  return (table as unknown as SymbolKeyed)[COLUMNS] as Record<string, Column>;
}
