/** `sequelizeRowStore`: the `RowStore` the backfill / rewrap / verify engine drives, over a model. */
import {
  CmekConfigError,
  type Cursor,
  type EncryptionContext,
  type Row,
  type RowStore,
} from '@cmek/core';
import { Op } from 'sequelize';
import { type AnyModelStatic, configOf, contextFor } from './config';
import type { QueryInterfaceLike } from './query-interface';
import { unwrappedMethods } from './shared-query-interface';

export interface SequelizeRowStoreOptions {
  /** The store's name in a configuration and in reports. Default: the model's name. */
  readonly name?: string;
  /**
   * Fixed labels of the fields' encryption contexts, for a model on which `encryptFields` has
   * not run in this process (a CLI configuration). When it has run, its contexts are used.
   */
  readonly labels?: Readonly<Record<string, string>>;
}

function affected(result: unknown): number {
  if (typeof result === 'number') return result;
  if (Array.isArray(result) && typeof result[0] === 'number') return result[0];
  const rows =
    (result as { affectedRows?: unknown; changes?: unknown; rowCount?: unknown } | null) ?? {};
  for (const value of [rows.affectedRows, rows.changes, rows.rowCount])
    if (typeof value === 'number') return value;
  return 0;
}

/**
 * A `RowStore` over `Model`'s `fields` (default: the fields `encryptFields` configured): scans
 * by primary key (keyset pagination, `WHERE pk > ? ORDER BY pk LIMIT ?`) and writes with
 * compare-and-set (`UPDATE … SET field = ? WHERE pk = ? AND field = ?`). It reads and writes the
 * stored values themselves, through the query interface as it was before the adapter: no
 * decryption, no encryption, no hooks.
 */
export function sequelizeRowStore(
  Model: AnyModelStatic,
  fields?: readonly string[],
  options: SequelizeRowStoreOptions = {},
): RowStore {
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
    contexts.set(name, configured?.context ?? contextFor(Model.name, name, options.labels?.[name]));
  }
  const fieldList = Object.freeze([...names]);
  const unwrapped = () =>
    unwrappedMethods(Model.sequelize!.getQueryInterface() as unknown as QueryInterfaceLike);

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
      const rows = (await unwrapped().select(Model, Model.getTableName(), {
        attributes: [[pkColumn, pk], ...fieldList.map((field) => [columns.get(field)!, field])],
        ...(after === undefined ? {} : { where: { [pkColumn]: { [Op.gt]: after } } }),
        order: [[pkColumn, 'ASC']],
        limit,
        raw: true,
      })) as Record<string, unknown>[];
      return rows.map((row) => {
        const values: Record<string, string | null> = {};
        for (const field of fieldList) {
          const value = row[field];
          values[field] = value === null || value === undefined ? null : String(value);
        }
        return { id: row[pk] as Cursor, values };
      });
    },
    async compareAndSet(
      id: Cursor,
      field: string,
      expected: string,
      next: string,
    ): Promise<boolean> {
      const column = columns.get(field);
      if (column === undefined)
        throw new CmekConfigError(`${Model.name}.${field} is not a field of this store`);
      // The unwrapped query interface: `next` is already a token, and the guard would refuse the
      // where on the encrypted column that compare-and-set needs.
      const result = await unwrapped().bulkUpdate(
        Model.getTableName(),
        { [column]: next },
        { [pkColumn]: id, [column]: expected },
        { model: Model },
        Model.getAttributes(),
      );
      return affected(result) === 1;
    },
  };
}
