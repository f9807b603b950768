/**
 * How the adapter compares identifiers: case-insensitively, whatever the database.
 *
 * SQLite matches table and column names case-insensitively; MySQL / MariaDB match column names
 * (and, with `lower_case_table_names`, table names) so too. A name the adapter matched exactly
 * while the database matched it loosely would be a silent plaintext write, so every table,
 * alias and column name is folded before it is compared. On PostgreSQL, where Knex quotes
 * identifiers and `"Token"` is not `"token"`, folding can only make the adapter treat one more
 * name as encrypted (an extra encryption, or a refusal), never one fewer.
 */

/**
 * The folded form of an identifier: Unicode upper case, then lower case, so that names equal
 * under either mapping (`ſ` and `s`, `ß` and `SS`) fold alike.
 */
export function foldName(name: string): string {
  return name.toUpperCase().toLowerCase();
}
