/** `sequelizeRowStore`: the `RowStore` the backfill / rewrap / verify engine drives, over a model. */
import {
  type BlindIndexOptions,
  blindIndexesOption,
  type CasWrite,
  CmekConfigError,
  CmekInvalidInputError,
  CmekQueryError,
  type Cursor,
  type EncryptionContext,
  type IndexValues,
  type Row,
  type RowCounter,
  type RowStore,
  type ScanOptions,
  tenantContext,
  tenantIdOf,
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
  /**
   * The attribute holding each row's tenant id, for a tenant envelope: scanned into `Row.tenant`,
   * filtered on by a run scoped to one tenant (`scan` / `count` with `{ tenant }`), and put in
   * each context under `tenantKey`. Default: the model's `tenantColumn` from `encryptFields`.
   */
  readonly tenantColumn?: string;
  /** The context key of the tenant id: the tenant envelope's `tenantKey`. Default `tenant`. */
  readonly tenantKey?: string;
  /**
   * The blind indexes of the fields, for a model on which `encryptFields` has not run in this
   * process (a CLI configuration): as `encryptFields` takes them (`{ column: 'tokenHashBidx' }`,
   * an attribute of the model, or a list during a rotation). When it has run, its indexes are
   * used. The store then declares `blindIndexes`: backfill (with core's engine `indexer`) writes
   * the index with the value, verify checks it.
   */
  readonly blindIndexes?: Readonly<
    Record<string, BlindIndexOptions | readonly BlindIndexOptions[]>
  >;
}

/** The store's blind indexes by field, and the database column of each index attribute. */
function storeIndexes(
  Model: AnyModelStatic,
  names: readonly string[],
  options: SequelizeRowStoreOptions,
): { blindIndexes: Record<string, readonly BlindIndexOptions[]>; columns: Map<string, string> } {
  const config = configOf(Model);
  const blindIndexes: Record<string, readonly BlindIndexOptions[]> = {};
  const columns = new Map<string, string>();
  for (const name of Object.keys(options.blindIndexes ?? {})) {
    if (!names.includes(name)) {
      throw new CmekConfigError(
        `sequelizeRowStore(${Model.name}): blindIndexes names ${name}, which is not a field of the store`,
      );
    }
  }
  for (const name of names) {
    const where = `sequelizeRowStore(${Model.name}): blindIndexes.${name}`;
    const configured = config?.byAttribute.get(name);
    const specs = configured
      ? configured.indexes
      : blindIndexesOption(options.blindIndexes?.[name], where);
    if (specs.length === 0) continue;
    for (const { column: attribute } of specs) {
      const raw = Model.rawAttributes[attribute];
      if (!raw || names.includes(attribute) || attribute === Model.primaryKeyAttribute) {
        throw new CmekConfigError(
          `${where}: ${attribute} is not an attribute of the model that can hold an index (missing, encrypted or the primary key)`,
        );
      }
      if (columns.has(attribute))
        throw new CmekConfigError(`${where}: ${attribute} is given twice`);
      columns.set(attribute, (raw.field as string | undefined) ?? attribute);
    }
    blindIndexes[name] = specs;
  }
  return { blindIndexes, columns };
}

/** How a database error is named in a message: its class and driver code, never its text. */
/** The key the scan selects the tenant column as. */
const TENANT = '__cmek_tenant';

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
 * paranoid (soft-deleted) ones included, with no scope. A field with a blind index (from
 * `encryptFields`, or `options.blindIndexes`) is declared in `blindIndexes`: `scan` returns its
 * index attributes in `indexes`, and a compare-and-set writes the index values it is given in the
 * same guarded `UPDATE`.
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
  const tenantAttribute = options.tenantColumn ?? config?.tenant?.attribute;
  const tenantKey = options.tenantKey ?? config?.tenant?.key ?? 'tenant';
  if (typeof tenantKey !== 'string' || tenantKey === '')
    throw new CmekConfigError(
      `sequelizeRowStore(${Model.name}): tenantKey must be a non-empty string`,
    );
  let tenantColumn: string | undefined;
  if (tenantAttribute !== undefined) {
    const raw = Model.rawAttributes[tenantAttribute];
    if (!raw || names.includes(tenantAttribute)) {
      throw new CmekConfigError(
        `sequelizeRowStore(${Model.name}): tenantColumn ${String(tenantAttribute)} is not an attribute of the model that can hold the tenant (missing or encrypted)`,
      );
    }
    tenantColumn = (raw.field as string | undefined) ?? tenantAttribute;
  }
  /** The tenant a run is scoped to, refused on a store without a tenant column. */
  const scopedTenant = (scan: ScanOptions | undefined): string | undefined => {
    if (scan?.tenant === undefined) return undefined;
    if (tenantColumn === undefined) {
      throw new CmekConfigError(
        `sequelizeRowStore(${Model.name}): a run scoped to tenant '${scan.tenant}' needs tenantColumn`,
      );
    }
    return scan.tenant;
  };
  const { blindIndexes, columns: indexColumns } = storeIndexes(Model, names, options);
  const indexed = indexColumns.size > 0;
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
      indexColumns: new Map(
        [...indexColumns].map(([attribute, column]) => [attribute, qi.quoteIdentifier(column)]),
      ),
    };
  };
  const columnOf = (field: string, indexes?: IndexValues): string => {
    const column = columns.get(field);
    if (column === undefined)
      throw new CmekConfigError(`${Model.name}.${field} is not a field of this store`);
    for (const key of Object.keys(indexes ?? {})) {
      if (!blindIndexes[field]?.some((spec) => spec.column === key)) {
        throw new CmekInvalidInputError(
          `${key} is not a blind-index attribute of ${Model.name}.${field}`,
        );
      }
    }
    return Model.sequelize!.getQueryInterface().quoteIdentifier(column);
  };
  /** The values of a write to scrub from its errors. */
  const secretsOf = (w: CasWrite): string[] => [
    w.expected,
    w.next,
    ...Object.values(w.indexes ?? {}).filter((v): v is string => typeof v === 'string'),
  ];
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
    ...(indexed ? { blindIndexes: Object.freeze(blindIndexes) } : {}),
    ...(tenantColumn === undefined ? {} : { tenantColumn }),
    contextFor(field: string, tenant?: string): Record<string, string> {
      const context = contexts.get(field);
      if (!context)
        throw new CmekConfigError(`${Model.name}.${field} is not a field of this store`);
      return {
        ...tenantContext(context, tenantColumn === undefined ? undefined : tenantKey, tenant),
      };
    },
    async scan(after: Cursor | undefined, limit: number, scan?: ScanOptions): Promise<Row[]> {
      const tenant = scopedTenant(scan);
      const where: Record<string, unknown> = {};
      if (after !== undefined) where[pkColumn] = { [Op.gt]: after };
      if (tenant !== undefined) where[tenantColumn!] = tenant;
      // The stored values: the query interface's own select, which the adapter does not decrypt.
      const rows = (await guarded('scan', fieldList.join(', '), [], () =>
        unwrapped().select(Model, Model.getTableName(), {
          attributes: [
            [pkColumn, pk],
            ...fieldList.map((field) => [columns.get(field)!, field]),
            ...[...indexColumns].map(([attribute, column]) => [column, attribute]),
            ...(tenantColumn === undefined ? [] : [[tenantColumn, TENANT]]),
          ],
          ...(Object.keys(where).length === 0 ? {} : { where }),
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
        const own = tenantColumn === undefined ? {} : { tenant: tenantIdOf(row[TENANT]) ?? null };
        if (!indexed) return { id: row[pk] as Cursor, values, ...own };
        const indexes: Record<string, string | null> = {};
        for (const attribute of indexColumns.keys()) {
          const value = row[attribute];
          indexes[attribute] = value === null || value === undefined ? null : String(value);
        }
        return { id: row[pk] as Cursor, values, indexes, ...own };
      });
    },
    async count(scan?: ScanOptions): Promise<number> {
      const tenant = scopedTenant(scan);
      // Raw SQL, as the scan: no scope, no paranoid filter, nothing the adapter intercepts.
      const rows = await guarded('count', fieldList.join(', '), [], () => {
        const { sequelize, table } = casTarget();
        const filter =
          tenant === undefined
            ? ''
            : ` WHERE ${sequelize.getQueryInterface().quoteIdentifier(tenantColumn!)} = ?`;
        return sequelize.query<{ n: unknown }>(`SELECT COUNT(*) AS n FROM ${table}${filter}`, {
          type: QueryTypes.SELECT,
          ...(tenant === undefined ? {} : { replacements: [tenant] }),
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
      indexes?: IndexValues,
    ): Promise<boolean> {
      const column = columnOf(field, indexes);
      const write: CasWrite = { id, field, expected, next, ...(indexes ? { indexes } : {}) };
      return guarded('compare-and-set', field, secretsOf(write), () =>
        compareAndSetOne(casTarget(), column, write),
      );
    },
    /**
     * One statement (one transaction on MySQL / MariaDB) per field of the batch and set of index
     * attributes written with it.
     */
    async compareAndSetMany(writes: readonly CasWrite[]): Promise<boolean[]> {
      const byField = new Map<string, { field: string; at: number[] }>();
      for (const [i, write] of writes.entries()) {
        columnOf(write.field, write.indexes);
        const key = JSON.stringify([write.field, ...Object.keys(write.indexes ?? {}).sort()]);
        const group = byField.get(key);
        if (group) group.at.push(i);
        else byField.set(key, { field: write.field, at: [i] });
      }
      const results: boolean[] = new Array(writes.length).fill(false);
      for (const { field, at } of byField.values()) {
        const own = at.map((i) => writes[i]!);
        const secrets = own.flatMap(secretsOf);
        const done = await guarded('compare-and-set', field, secrets, () =>
          compareAndSetColumn(casTarget(), columnOf(field), own),
        );
        for (const [n, i] of at.entries()) results[i] = done[n]!;
      }
      return results;
    },
  };
}
