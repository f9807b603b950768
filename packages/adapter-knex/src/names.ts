/** Parsing of the identifiers Knex accepts: `table as alias`, `schema.table`, `t.column as alias`. */

/** The last dotted part of a name: the table of `schema.table`, the column of `t.column`. */
export function lastPart(name: string): string {
  return name.slice(name.lastIndexOf('.') + 1);
}

/** Knex's alias separator: a case-insensitive ` as ` (see Knex's wrappingFormatter). */
function splitAlias(value: string): [string, string | undefined] {
  let i = -1;
  // biome-ignore lint/suspicious/noAssignInExpressions: a scan loop, as in Knex
  while ((i = value.indexOf(' ', i + 1)) !== -1) {
    if (i + 3 < value.length && value.slice(i + 1, i + 4).toLowerCase() === 'as ') {
      return [value.slice(0, i).trim(), value.slice(i + 4).trim()];
    }
  }
  return [value.trim(), undefined];
}

export interface ColumnName {
  /** `t` in `t.col`, `s.t` in `s.t.col`; undefined for a bare name. */
  readonly qualifier: string | undefined;
  /** The column name, or `*`. */
  readonly column: string;
  /** The key the value has in a result row (the alias, else the column name). */
  readonly key: string;
}

export function parseColumn(value: string, alias?: string): ColumnName {
  const [base, as] = splitAlias(value);
  const dot = base.lastIndexOf('.');
  const column = lastPart(base);
  const qualifier = dot === -1 ? undefined : base.slice(0, dot);
  return { qualifier, column, key: alias ?? as ?? column };
}

export interface TableName {
  /** As written, schema included: `users`, `public.users`. */
  readonly name: string;
  /** The name that qualifies its columns in the query: the alias, else the bare table name. */
  readonly alias: string;
}

export function parseTable(value: string, schema: string | undefined): TableName {
  const [base, as] = splitAlias(value);
  const name = schema !== undefined && !base.includes('.') ? `${schema}.${base}` : base;
  return { name, alias: as ?? lastPart(base) };
}
