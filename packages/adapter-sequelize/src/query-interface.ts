/**
 * The last line before the database: every write Sequelize makes for an encrypted model goes
 * through the model's query interface (`insert`, `update`, `bulkInsert`, `bulkUpdate`,
 * `upsert`), with hooks or without (`hooks: false`), whatever hooks the application added. The
 * model gets its own view of the query interface that encrypts there, and refuses filters on
 * encrypted fields in `select`, `rawSelect` (count, max...), `bulkUpdate`, `bulkDelete` and
 * `increment` / `decrement`.
 */
import type { ModelConfig } from './config';
import { assertQueryable, type FindLike, queryError } from './guard';
import {
  encryptRecords,
  type Known,
  restoreInstances,
  restorePlaintext,
  type Values,
} from './write';

type Method = (...args: unknown[]) => Promise<unknown>;
type QueryInterfaceLike = Record<string, unknown>;

function method(real: QueryInterfaceLike, name: string): Method {
  const fn = real[name];
  if (typeof fn !== 'function') throw new TypeError(`the Sequelize query interface has no ${name}`);
  return (fn as Method).bind(real);
}

function valuesOf(value: unknown): Values {
  return typeof value === 'object' && value !== null ? (value as Values) : {};
}

/** Rows or instances a query returned, as data-value objects. */
function returnedRows(value: unknown): Values[] {
  const list = Array.isArray(value) ? value : [value];
  const out: Values[] = [];
  for (const item of list) {
    if (typeof item !== 'object' || item === null) continue;
    const data = (item as { dataValues?: unknown }).dataValues;
    out.push(typeof data === 'object' && data !== null ? (data as Values) : (item as Values));
  }
  return out;
}

export function wrapQueryInterface(
  real: QueryInterfaceLike,
  config: ModelConfig,
): QueryInterfaceLike {
  const modelName = config.model.name;
  const check = (options: unknown): void => {
    const tableName = config.model.getTableName();
    assertQueryable(
      config,
      valuesOf(options) as FindLike,
      modelName,
      typeof tableName === 'string' ? tableName : tableName.tableName,
    );
  };
  const checkWhere = (where: unknown): void => check({ where });

  const insert = method(real, 'insert');
  const update = method(real, 'update');
  const bulkInsert = method(real, 'bulkInsert');
  const bulkUpdate = method(real, 'bulkUpdate');
  const upsert = method(real, 'upsert');
  const bulkDelete = method(real, 'bulkDelete');
  const select = method(real, 'select');
  const rawSelect = method(real, 'rawSelect');
  const increment = method(real, 'increment');
  const decrement = method(real, 'decrement');

  /** `increment` / `decrement`: a where on an encrypted field, or arithmetic on one, is refused. */
  const arithmetic =
    (run: Method): Method =>
    async (model, tableName, where, amounts, extra, options) => {
      checkArithmetic(config, where, amounts, checkWhere);
      return run(model, tableName, where, amounts, extra, options);
    };

  const overrides: QueryInterfaceLike = {
    async insert(instance: unknown, tableName: unknown, values: unknown, options: unknown) {
      const known: Known = new Map();
      const [sealed] = await encryptRecords(config, [valuesOf(values)], known);
      const result = await insert(instance, tableName, sealed, options);
      await restoreInstances(
        config,
        [instance, ...(Array.isArray(result) ? [result[0]] : [])],
        known,
      );
      return result;
    },
    async update(
      instance: unknown,
      tableName: unknown,
      values: unknown,
      where: unknown,
      options: unknown,
    ) {
      const known: Known = new Map();
      const [sealed] = await encryptRecords(config, [valuesOf(values)], known);
      const result = await update(instance, tableName, sealed, where, options);
      await restoreInstances(config, [instance], known);
      return result;
    },
    async bulkInsert(tableName: unknown, records: unknown, options: unknown, attributes: unknown) {
      const known: Known = new Map();
      const rows = Array.isArray(records) ? (records as Values[]) : [];
      const sealed = await encryptRecords(config, rows, known);
      const result = await bulkInsert(tableName, sealed, options, attributes);
      // RETURNING rows (PostgreSQL, SQLite) are copied into the instances: give them plaintext.
      if (Array.isArray(result)) await restorePlaintext(config, returnedRows(result), known);
      return result;
    },
    async bulkUpdate(
      tableName: unknown,
      values: unknown,
      where: unknown,
      options: unknown,
      attributes: unknown,
    ) {
      checkWhere(where);
      const known: Known = new Map();
      const [sealed] = await encryptRecords(config, [valuesOf(values)], known);
      const result = await bulkUpdate(tableName, sealed, where, options, attributes);
      if (Array.isArray(result)) await restoreInstances(config, result, known);
      return result;
    },
    async upsert(
      tableName: unknown,
      insertValues: unknown,
      updateValues: unknown,
      where: unknown,
      options: unknown,
    ) {
      const known: Known = new Map();
      const [sealedInsert, sealedUpdate] = await encryptSharing(
        config,
        valuesOf(insertValues),
        valuesOf(updateValues),
        known,
      );
      const result = await upsert(tableName, sealedInsert, sealedUpdate, where, options);
      if (Array.isArray(result)) await restoreInstances(config, [result[0]], known);
      return result;
    },
    async bulkDelete(tableName: unknown, where: unknown, options: unknown, model: unknown) {
      checkWhere(where);
      return bulkDelete(tableName, where, options, model);
    },
    async select(model: unknown, tableName: unknown, options: unknown) {
      check(options);
      return select(model, tableName, options);
    },
    async rawSelect(
      tableName: unknown,
      options: unknown,
      attributeSelector: unknown,
      model: unknown,
    ) {
      check(options);
      return rawSelect(tableName, options, attributeSelector, model);
    },
    increment: arithmetic(increment),
    decrement: arithmetic(decrement),
  };
  return Object.assign(Object.create(real) as QueryInterfaceLike, overrides);
}

function checkArithmetic(
  config: ModelConfig,
  where: unknown,
  amounts: unknown,
  checkWhere: (where: unknown) => void,
): void {
  checkWhere(where);
  for (const key of Object.keys(valuesOf(amounts))) {
    const field = config.byName.get(key);
    if (field) throw queryError(field, 'arithmetic (increment / decrement)');
  }
}

/** An upsert's insert and update values, the same plaintext encrypted once for both. */
async function encryptSharing(
  config: ModelConfig,
  insertValues: Values,
  updateValues: Values,
  known: Known,
): Promise<[Values, Values]> {
  const [sealedInsert] = await encryptRecords(config, [insertValues], known);
  const update = { ...updateValues };
  for (const name of config.byName.keys()) {
    if (
      Object.hasOwn(update, name) &&
      Object.hasOwn(insertValues, name) &&
      update[name] === insertValues[name]
    ) {
      update[name] = sealedInsert![name];
    }
  }
  const [sealedUpdate] = await encryptRecords(config, [update], known);
  return [sealedInsert!, sealedUpdate!];
}
