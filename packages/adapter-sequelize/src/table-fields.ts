/**
 * The encrypted columns of a table, gathered from every model of the same Sequelize instance
 * that `encryptFields` configured: what the shared query interface encrypts (by column name,
 * under the model's context) when a seeder, a data migration or another model writes the table.
 */
import { CmekConfigError } from '@cmek/core';
import { configOf, type FieldConfig, type FieldSet, type ModelConfig } from './options';

export interface TableFields extends FieldSet {
  /** The table as messages name it (`integrations`, `billing.integrations`). */
  readonly table: string;
  /** The names a filter may prefix a column with: the table and the models over it. */
  readonly names: readonly string[];
  /** Columns (lower case) two models encrypt under different contexts: a write to one is refused. */
  readonly conflicts: ReadonlyMap<string, string>;
}

/** The slice of a Sequelize instance this module reads. */
export interface SequelizeLike {
  getDialect(): string;
  readonly modelManager?: { readonly models?: readonly unknown[] };
}

interface TableRef {
  readonly table: string;
  readonly schema: string | undefined;
}

function refOf(name: unknown): TableRef | undefined {
  if (typeof name === 'string') return { table: name, schema: undefined };
  if (typeof name !== 'object' || name === null) return undefined;
  const { tableName, schema } = name as { tableName?: unknown; schema?: unknown };
  if (typeof tableName !== 'string') return undefined;
  return {
    table: tableName,
    schema: typeof schema === 'string' && schema !== '' ? schema : undefined,
  };
}

/**
 * A table as a call or a model names it. PostgreSQL's default schema is `public`, the same
 * table as no schema; names are case-sensitive there, as Sequelize quotes them, and compared
 * case-insensitively elsewhere (a table reached under another case is intercepted, not missed).
 */
function normalise(
  sequelize: SequelizeLike,
  name: unknown,
): (TableRef & { shown: string }) | undefined {
  const ref = refOf(name);
  if (!ref) return undefined;
  const delimiter = (name as { delimiter?: unknown }).delimiter;
  const shown =
    ref.schema === undefined
      ? ref.table
      : `${ref.schema}${typeof delimiter === 'string' ? delimiter : '.'}${ref.table}`;
  const postgres = sequelize.getDialect() === 'postgres';
  const fold = (text: string) => (postgres ? text : text.toLowerCase());
  const schema =
    ref.schema === undefined || (postgres && ref.schema === 'public') ? undefined : ref.schema;
  return { table: fold(ref.table), schema: schema === undefined ? undefined : fold(schema), shown };
}

/**
 * Whether a call on `call` reaches a model's `model` table: the same name, in the same schema, or
 * in any schema when one side names none (`Model.schema('tenant')` copies of a model, and a
 * seeder writing `{ tableName, schema }`, reach a table of the model in another schema).
 */
function reaches(call: TableRef, model: TableRef): boolean {
  return (
    call.table === model.table &&
    (call.schema === undefined || model.schema === undefined || call.schema === model.schema)
  );
}

function sameContext(a: FieldConfig, b: FieldConfig): boolean {
  const keys = Object.keys(a.context);
  return (
    keys.length === Object.keys(b.context).length &&
    keys.every((k) => a.context[k] === b.context[k])
  );
}

/** The same index columns, computed the same way (a normaliser function by identity). */
function sameIndexes(a: FieldConfig, b: FieldConfig): boolean {
  return (
    a.indexColumns.length === b.indexColumns.length &&
    a.indexColumns.every((column, j) => {
      const [x, y] = [a.indexes[j]!, b.indexes[j]!];
      const [nx, ny] = [[x.normalize].flat(), [y.normalize].flat()];
      return (
        column === b.indexColumns[j] &&
        x.mode === y.mode &&
        x.key === y.key &&
        nx.length === ny.length &&
        nx.every((n, i) => n === ny[i])
      );
    })
  );
}

/** The configured models of `sequelize` whose table `call` reaches. */
function modelsOver(sequelize: SequelizeLike, call: TableRef): ModelConfig[] {
  const found: ModelConfig[] = [];
  for (const model of sequelize.modelManager?.models ?? []) {
    const config = configOf(model);
    if (!config) continue;
    const own = normalise(sequelize, config.model.getTableName());
    if (own && reaches(call, own)) found.push(config);
  }
  return found;
}

/** The encrypted columns of `tableName`, or undefined when no configured model is over it. */
export function tableFieldsOf(
  sequelize: SequelizeLike,
  tableName: unknown,
): TableFields | undefined {
  const table = normalise(sequelize, tableName);
  if (!table) return undefined;
  const configs = modelsOver(sequelize, table);
  if (configs.length === 0) return undefined;
  const byName = new Map<string, FieldConfig>();
  const byIndexName = new Map<string, FieldConfig>();
  const conflicts = new Map<string, string>();
  for (const config of configs) {
    for (const field of config.byAttribute.values()) {
      const own: FieldConfig = {
        ...field,
        display: `${table.shown}.${field.column} (${field.qualified})`,
      };
      for (const column of field.indexColumns)
        if (!byIndexName.has(column)) byIndexName.set(column, own);
      const seen = byName.get(field.column);
      if (!seen) byName.set(field.column, own);
      else if (
        (!sameContext(seen, own) || !sameIndexes(seen, own)) &&
        !conflicts.has(field.column.toLowerCase())
      ) {
        conflicts.set(
          field.column.toLowerCase(),
          `${table.shown}.${field.column} is encrypted by ${seen.qualified} and by ${field.qualified} under different contexts or blind indexes, so a value written to the table cannot be encrypted for both: write it through one of the models, or pin one label for both`,
        );
      }
    }
  }
  return {
    table: table.shown,
    names: [table.shown, ...configs.map((c) => c.model.name)],
    byName,
    byIndexName,
    conflicts,
  };
}

/** Refuses a write that sets a column two models encrypt under different contexts. */
export function assertNoConflict(fields: TableFields, records: readonly object[]): void {
  if (fields.conflicts.size === 0) return;
  for (const record of records) {
    for (const [key, value] of Object.entries(record)) {
      const message = value === undefined ? undefined : fields.conflicts.get(key.toLowerCase());
      if (message !== undefined) throw new CmekConfigError(message);
    }
  }
}
