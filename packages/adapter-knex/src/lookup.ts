/**
 * Matching the names a query writes to the configured tables and columns. Every comparison is
 * case-insensitive (`foldName`), and goes through the Knex config's identifier mapping when it
 * has one (`Identifiers`): a name the database resolves to an encrypted column but the adapter
 * missed would be written as plaintext.
 */
import { CmekQueryError } from '@cmek/core';
import { lastPart } from './names';
import type { TableConfig, TableConfigs } from './options';

/**
 * A table name as written in a query (`users`, `public.users`, `Users`, `userAccounts` for
 * `user_accounts` under a snake_case mapper), matched to its configuration by any of its
 * spellings: the key `schema.table` first, then `table`; a name without a schema also matches
 * the one key `<any schema>.table`. Throws `CmekQueryError` when a name without a schema could
 * be two configured tables.
 */
export function lookupTable(tables: TableConfigs, name: string): TableConfig | undefined {
  const spellings = tables.identifiers.of(name);
  for (const spelling of spellings) {
    const exact = tables.spellings.get(spelling);
    if (exact !== undefined) return exact;
  }
  if (name.includes('.')) {
    for (const spelling of spellings) {
      const bare = tables.spellings.get(lastPart(spelling));
      if (bare !== undefined) return bare;
    }
    return undefined;
  }
  const qualified = new Set<TableConfig>();
  for (const [key, table] of tables.spellings) {
    if (spellings.some((spelling) => key.endsWith(`.${spelling}`))) qualified.add(table);
  }
  if (qualified.size > 1) {
    const names = [...qualified].map((table) => `'${table.name}'`).join(', ');
    throw new CmekQueryError(
      name,
      `the table '${name}' may be any of ${names}, configured with their schemas; name its schema (withSchema, or 'schema.table') so it can be encrypted under the right context`,
    );
  }
  return qualified.values().next().value;
}

/**
 * The configured encrypted column a column name names, if any: in any letter case, and as
 * written or as the identifier mapping sends it to the database.
 */
export function encryptedColumn(table: TableConfig, name: string): string | undefined {
  for (const spelling of table.identifiers.of(name)) {
    const column = table.spellings.get(spelling);
    if (column !== undefined) return column;
  }
  return undefined;
}

/**
 * The configured encrypted column whose blind-index column a column name names, if any (in any
 * letter case, as written or as mapped).
 */
export function indexedColumn(table: TableConfig, name: string): string | undefined {
  for (const spelling of table.identifiers.of(name)) {
    const column = table.indexSpellings.get(spelling);
    if (column !== undefined) return column;
  }
  return undefined;
}
