/**
 * Matching the names a query writes to the configured tables and columns. Every comparison is
 * case-insensitive (`foldName`): a name the database resolves loosely but the adapter missed
 * would be written as plaintext.
 */
import { CmekQueryError } from '@cmek/core';
import { foldName } from './fold';
import type { TableConfig, TableConfigs } from './options';

/**
 * A table name as written in a query (`users`, `public.users`, `Users`), matched to its
 * configuration case-insensitively: the key `schema.table` first, then `table`; a name without
 * a schema also matches the one key `<any schema>.table`. Throws `CmekQueryError` when a name
 * without a schema could be two configured tables.
 */
export function lookupTable(tables: TableConfigs, name: string): TableConfig | undefined {
  const folded = foldName(name);
  const exact = tables.get(folded);
  if (exact !== undefined) return exact;
  const dot = folded.lastIndexOf('.');
  if (dot !== -1) return tables.get(folded.slice(dot + 1));
  const qualified = [...tables.entries()].filter(([key]) => key.endsWith(`.${folded}`));
  if (qualified.length > 1) {
    const names = qualified.map(([, table]) => `'${table.name}'`).join(', ');
    throw new CmekQueryError(
      name,
      `the table '${name}' may be any of ${names}, configured with their schemas; name its schema (withSchema, or 'schema.table') so it can be encrypted under the right context`,
    );
  }
  return qualified[0]?.[1];
}

/** The configured encrypted column a column name (in any letter case) names, if any. */
export function encryptedColumn(table: TableConfig, name: string): string | undefined {
  return table.folded.get(foldName(name));
}
