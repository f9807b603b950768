/** `sequelizeRowStore`: the `RowStore` the backfill / rewrap / verify engine drives, over a model. */
import {
  type CasWrite,
  CmekConfigError,
  CmekQueryError,
  type Cursor,
  type EncryptionContext,
  type Row,
  type RowCounter,
  type RowStore,
} from '@cmek/core';
import { Op, QueryTypes } from 'sequelize';
import { type AnyModelStatic, configOf, fieldContext } from './options';
import type { QueryInterfaceLike } from './query-interface';
import { redactError } from './redact';
import { type CasTarget, compareAndSetColumn, compareAndSetOne } from './row-store-writes';
import { unwrappedMethods } from './shared-query-interface';

export interface SequelizeRowStoreOptions {
  /** The store's name in a configuration and in reports. Default: the model's name. */
  readonly name?: string;
  /**
   * The fields' encryption contexts, for a model on which `encryptFields` has not run in this
   * process (a CLI configuration) and whose fields have a `context` of their own. When it has
   * run, its contexts are used.
   */
  readonly contexts?: Readonly<Record<string, EncryptionContext>>;
  /** @deprecated Use `contexts: { [field]: { field: label } }`, the same contexts. */
  readonly labels?: Readonly<Record<string, string>>;
}

/** How a database error is named in a message: its class and driver code, never its text. */
function describeFailure(error: unknown): string {
  const name = (error as { name?: unknown } | null)?.name;
  const parent = (error as { parent?: { code?: unknown } } | null)?.parent;
  const code = parent?.code ?? (error as { code?: unknown } | null)?.code;
  const parts = [typeof name === 'string' && /^\w{1,60}$/.test(name) ? name : 'an error'];
  if ((typeof code === 'string' && /^\w{1,40}$/.test(code)) || typeof code === 'number')
    parts.push(`code ${code}`);
  return parts.join(', ');
}

/**
 * A `RowStore` over `Model`'s `fields` (default: the fields `encryptFields` configured): scans
 * by primary key (keyset pagination, `WHERE pk > ? ORDER BY pk LIMIT ?`) and writes with
 * compare-and-set (`UPDATE … SET field = ? WHERE pk = ? AND field = ?`, batched by
 * `compareAndSetMany`: see `row-store-writes.ts`). It reads and writes the stored values
 * themselves, around the adapter: no decryption, no encryption, no hooks. A database failure is
 * a `CmekQueryError` naming the field and the error's class and code; the database error, with
 * every value of the call taken out, is its (non-enumerable) `cause`. Its optional `count` (the
 * engine's progress total) is an exact `SELECT COUNT(*)` of the table: every row the scan reads,
 * paranoid (soft-deleted) ones included, with no scope.
 */
export function sequelizeRowStore(
  Model: AnyModelStatic,
  fields?: readonly string[],
  options: SequelizeRowStoreOptions = {},
): RowStore & RowCounter {
  const config = configOf(Model);
  const names = fields ?? (config ? [...config.byAttribute.keys()] : undefined);
  if (!names || names.length === 0) {
    throw new CmekConfigError(
      `sequelizeRowStore(${Model.name}) needs the fields to scan (encryptFields has not run for it)`,
    );
  }
  const pk = Model.primaryKeyAttribute;
  if (!pk || Object.keys((Model as unknown as { primaryKeys: object }).primaryKeys).length !== 1) {
    throw new CmekConfigError(
      `sequelizeRowStore(${Model.name}) needs a model with a single-column primary key`,
    );
  }
  const pkColumn = (Model.rawAttributes[pk]?.field as string | undefined) ?? pk;
  const columns = new Map<string, string>();
  const contexts = new Map<string, EncryptionContext>();
  for (const name of names) {
    const raw = Model.rawAttributes[name];
    if (!raw) throw new CmekConfigError(`${Model.name}.${name} is not an attribute of the model`);
    columns.set(name, (raw.field as string | undefined) ?? name);
    const configured = config?.byAttribute.get(name);
    contexts.set(
      name,
      configured?.context ??
        fieldContext(
          Model.name,
          name,
          { context: options.contexts?.[name], label: options.labels?.[name] },
          `sequelizeRowStore options for ${name}`,
        ),
    );
  }
  const fieldList = Object.freeze([...names]);
  const unwrapped = () =>
    unwrappedMethods(Model.sequelize!.getQueryInterface() as unknown as QueryInterfaceLike);
  const casTarget = (): CasTarget => {
    const sequelize = Model.sequelize!;
    const qi = sequelize.getQueryInterface();
    // `queryInterface.quoteTable` is typed but not implemented; the query generator has it.
    const generator = (qi as unknown as { queryGenerator: { quoteTable(t: unknown): string } })
      .queryGenerator;
    return {
      sequelize,
      table: generator.quoteTable(Model.getTableName()),
      pk,
      pkColumn: qi.quoteIdentifier(pkColumn),
    };
  };
  const columnOf = (field: string): string => {
    const column = columns.get(field);
    if (column === undefined)
      throw new CmekConfigError(`${Model.name}.${field} is not a field of this store`);
    return Model.sequelize!.getQueryInterface().quoteIdentifier(column);
  };
  /**
   * Runs a database call; its failure becomes a `CmekQueryError` holding no value. Not core's
   * `storeWriteError`: that names the error's own `code` only, while a Sequelize error keeps the
   * driver's code on its `parent`, and the message here names the Sequelize error class too
   * (`the compare-and-set of Model.field failed in the database (SequelizeUniqueConstraintError,
   * code SQLITE_CONSTRAINT)`, which `cmek` prints); it also covers `scan` and `count`.
   */
  const guarded = async <T>(
    what: string,
    field: string,
    secrets: readonly string[],
    run: () => Promise<T>,
  ): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      if (CmekConfigError.isInstance(error)) throw error;
      redactError(error, secrets, [...columns.keys(), ...columns.values()]);
      throw new CmekQueryError(
        `${Model.name}.${field}`,
        `the ${what} of ${Model.name}.${field} failed in the database (${describeFailure(error)}); the database error, without its values, is the cause`,
        { cause: error },
      );
    }
  };

  return {
    name: options.name ?? Model.name,
    fields: fieldList,
    contextFor(field: string): Record<string, string> {
      const context = contexts.get(field);
      if (!context)
        throw new CmekConfigError(`${Model.name}.${field} is not a field of this store`);
      return { ...context };
    },
    async scan(after: Cursor | undefined, limit: number): Promise<Row[]> {
      // The stored values: the query interface's own select, which the adapter does not decrypt.
      const rows = (await guarded('scan', fieldList.join(', '), [], () =>
        unwrapped().select(Model, Model.getTableName(), {
          attributes: [[pkColumn, pk], ...fieldList.map((field) => [columns.get(field)!, field])],
          ...(after === undefined ? {} : { where: { [pkColumn]: { [Op.gt]: after } } }),
          order: [[pkColumn, 'ASC']],
          limit,
          raw: true,
        }),
      )) as Record<string, unknown>[];
      return rows.map((row) => {
        const values: Record<string, string | null> = {};
        for (const field of fieldList) {
          const value = row[field];
          values[field] = value === null || value === undefined ? null : String(value);
        }
        return { id: row[pk] as Cursor, values };
      });
    },
    async count(): Promise<number> {
      // Raw SQL, as the scan: no scope, no paranoid filter, nothing the adapter intercepts.
      const rows = await guarded('count', fieldList.join(', '), [], () => {
        const { sequelize, table } = casTarget();
        return sequelize.query<{ n: unknown }>(`SELECT COUNT(*) AS n FROM ${table}`, {
          type: QueryTypes.SELECT,
        });
      });
      // PostgreSQL returns a bigint count as a string, MariaDB possibly as a BigInt.
      const value = rows[0]?.n;
      const n = typeof value === 'bigint' ? Number(value) : Number(value ?? 0);
      if (!Number.isSafeInteger(n) || n < 0) {
        throw new CmekQueryError(
          `${Model.name}.${fieldList.join(', ')}`,
          `the row count of ${Model.name} is not a number`,
        );
      }
      return n;
    },
    async compareAndSet(
      id: Cursor,
      field: string,
      expected: string,
      next: string,
    ): Promise<boolean> {
      const column = columnOf(field);
      return guarded('compare-and-set', field, [expected, next], () =>
        compareAndSetOne(casTarget(), column, { id, field, expected, next }),
      );
    },
    /** One statement (one transaction on MySQL / MariaDB) per field of the batch. */
    async compareAndSetMany(writes: readonly CasWrite[]): Promise<boolean[]> {
      const byField = new Map<string, number[]>();
      for (const [i, write] of writes.entries()) {
        columnOf(write.field);
        const list = byField.get(write.field);
        if (list) list.push(i);
        else byField.set(write.field, [i]);
      }
      const results: boolean[] = new Array(writes.length).fill(false);
      for (const [field, at] of byField) {
        const own = at.map((i) => writes[i]!);
        const secrets = own.flatMap((w) => [w.expected, w.next]);
        const done = await guarded('compare-and-set', field, secrets, () =>
          compareAndSetColumn(casTarget(), columnOf(field), own),
        );
        for (const [n, i] of at.entries()) results[i] = done[n]!;
      }
      return results;
    },
  };
}
