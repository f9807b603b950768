/**
 * The last line before the database: every write Sequelize makes goes through the query
 * interface (`insert`, `update`, `bulkInsert`, `bulkUpdate`, `upsert`, `increment` /
 * `decrement`), with hooks or without (`hooks: false`), whatever hooks the application added,
 * and every finder through `select` / `rawSelect`. `interceptors` builds the versions of those
 * methods that encrypt the values written, refuse filters and aggregates on encrypted fields
 * and decrypt what a `select` returns, for one target: a model's own view of the query
 * interface (`modelQueryInterface`), or a table reached through the shared one
 * (`shared-query-interface.ts`).
 */
import { CmekQueryError } from '@cmek/core';
import { rewriteFind, rewriteWhere } from './lookup';
import {
  configOf,
  type FieldSet,
  fieldNamed,
  indexKeyOf,
  indexNamed,
  type ModelConfig,
} from './options';
import { assertQueryable, type FindLike, ownResolver, queryError } from './query-rules';
import { decryptResults, type FindOptionsLike } from './read';
import { redactError } from './redact';
import {
  instanceTenant,
  refuseMove,
  refuseUntenantedUpsert,
  tenantOfSet,
  whereTenant,
} from './tenant';
import { type Values, valuesOf } from './values';
import {
  encryptRecords,
  encryptUpsert,
  indexWrite,
  type Known,
  restoreReturned,
  syncIndexes,
} from './write';

export type Method = (...args: unknown[]) => Promise<unknown>;
export type QueryInterfaceLike = Record<string, unknown>;

/** The query-interface methods the adapter intercepts. */
export const INTERCEPTED = [
  'insert',
  'update',
  'bulkInsert',
  'bulkUpdate',
  'upsert',
  'bulkDelete',
  'select',
  'rawSelect',
  'increment',
  'decrement',
] as const;
export type Intercepted = (typeof INTERCEPTED)[number];
export type Methods = Readonly<Record<Intercepted, Method>>;

/** What one set of interceptors protects. */
export interface Target {
  readonly fields: FieldSet;
  /** The prefixes that name the target itself in a column reference (model and table names). */
  names(tableName: unknown): readonly string[];
  /** Refuses a write before anything is encrypted (a column two models encrypt differently). */
  beforeWrite?(records: readonly Values[]): void;
  /**
   * A table reached without its model: what `select` returns is decrypted by column (and by the
   * attribute names of the model that read it, if any).
   */
  readonly byColumn?: boolean;
}

/** A model's name, as a column reference may prefix a column with it. */
export function modelName(model: unknown): string | undefined {
  const name = (model as { name?: unknown } | null | undefined)?.name;
  return typeof name === 'string' ? name : undefined;
}

export function tableNameOf(tableName: unknown): string | undefined {
  if (typeof tableName === 'string') return tableName;
  const name = (tableName as { tableName?: unknown } | null | undefined)?.tableName;
  return typeof name === 'string' ? name : undefined;
}

function hasIncludes(options: unknown): boolean {
  const include = (options as { include?: unknown } | null | undefined)?.include;
  return Array.isArray(include) && include.length > 0;
}

/**
 * `bulkCreate(…, { updateOnDuplicate })`: an encrypted field updated on a duplicate brings its
 * blind-index columns (the inserted row holds them); the same options when none is added.
 */
function withIndexesUpdated(fields: FieldSet, options: unknown): unknown {
  const list = (options as { updateOnDuplicate?: unknown } | null | undefined)?.updateOnDuplicate;
  if (!Array.isArray(list)) return options;
  const out = [...list];
  const tenant = tenantOfSet(fields);
  if (tenant && !list.some((n) => n === tenant.attribute || n === tenant.column)) {
    const field = list
      .map((n) => (typeof n === 'string' ? fieldNamed(fields, n) : undefined))
      .find((f) => f !== undefined);
    if (field) {
      throw new CmekQueryError(
        field.qualified,
        `updateOnDuplicate lists ${field.display} without ${tenant.attribute}, the tenant attribute: the row it updates may be another tenant's; list the tenant attribute too`,
      );
    }
  }
  for (const name of list) {
    // the index updated from the inserted row without its value would not match the value kept
    const indexOf = typeof name === 'string' ? indexNamed(fields, name) : undefined;
    if (indexOf && !list.some((n) => typeof n === 'string' && fieldNamed(fields, n) === indexOf))
      throw indexWrite(indexOf, name as string);
    const field = typeof name === 'string' ? fieldNamed(fields, name) : undefined;
    for (const [j] of field?.indexes.entries() ?? []) {
      const key = indexKeyOf(field!, name as string, j);
      if (!out.includes(key)) out.push(key);
    }
  }
  return out.length === list.length ? options : { ...(options as object), updateOnDuplicate: out };
}

/** The intercepting versions of `real`'s methods for `target`. */
export function interceptors(target: Target, real: Methods): Methods {
  const { fields } = target;
  /** The options checked, with the lookups on blind indexes rewritten onto the index. */
  const check = <T>(tableName: unknown, options: T): T => {
    const names = target.names(tableName);
    assertQueryable(fields, valuesOf(options) as FindLike, names);
    return rewriteFind(fields, options, names);
  };
  const checkWhere = <T>(tableName: unknown, where: T): T => {
    const names = target.names(tableName);
    assertQueryable(fields, { where }, names);
    return rewriteWhere(where, ownResolver(fields, undefined, names)) as T;
  };
  const seal = async (
    records: readonly Values[],
    known: Known,
    tenant?: unknown,
  ): Promise<Values[]> => {
    target.beforeWrite?.(records);
    return encryptRecords(fields, records, known, () => tenant);
  };
  /**
   * Runs the real write; a failure (a constraint violation, a lost connection) is rethrown as the
   * same Sequelize error with every token and plaintext of the write taken out of it.
   */
  const write = async (known: Known, run: () => Promise<unknown>): Promise<unknown> => {
    try {
      return await run();
    } catch (error) {
      throw redactError(error, known.values(), [
        ...fields.byName.keys(),
        ...(fields.byIndexName?.keys() ?? []),
      ]);
    }
  };

  /** `increment` / `decrement`: a where on an encrypted field, or arithmetic on one, is refused. */
  const arithmetic =
    (run: Method): Method =>
    async (model, tableName, whereGiven, amounts, extra, options) => {
      const where = checkWhere(tableName, whereGiven);
      for (const key of Object.keys(valuesOf(amounts))) {
        const field = fieldNamed(fields, key);
        if (field) throw queryError(field, 'arithmetic (increment / decrement)');
      }
      const known: Known = new Map();
      const sealedExtra =
        typeof extra === 'object' && extra !== null
          ? (await seal([extra as Values], known))[0]
          : extra;
      const result = await write(known, () =>
        run(model, tableName, where, amounts, sealedExtra, options),
      );
      await restoreReturned(fields, result, known);
      return result;
    };

  return {
    async insert(instance, tableName, values, options) {
      const known: Known = new Map();
      const [sealed] = await seal([valuesOf(values)], known, instanceTenant(fields, instance));
      const result = await write(known, () => real.insert(instance, tableName, sealed, options));
      syncIndexes(instance, sealed);
      await restoreReturned(fields, [instance, result], known);
      return result;
    },
    async update(instance, tableName, values, where, options) {
      const known: Known = new Map();
      refuseMove(fields, valuesOf(values));
      const [sealed] = await seal([valuesOf(values)], known, instanceTenant(fields, instance));
      const result = await write(known, () =>
        real.update(instance, tableName, sealed, where, options),
      );
      syncIndexes(instance, sealed);
      await restoreReturned(fields, [instance], known);
      return result;
    },
    async bulkInsert(tableName, records, options, attributes) {
      const known: Known = new Map();
      const rows = Array.isArray(records) ? (records as Values[]) : [];
      const sealed = await seal(rows, known);
      const result = await write(known, () =>
        real.bulkInsert(tableName, sealed, withIndexesUpdated(fields, options), attributes),
      );
      // RETURNING rows (PostgreSQL, SQLite) are copied into the instances: give them plaintext.
      if (Array.isArray(result)) await restoreReturned(fields, result, known);
      return result;
    },
    async bulkUpdate(tableName, values, whereGiven, options, attributes) {
      const where = checkWhere(tableName, whereGiven);
      const known: Known = new Map();
      refuseMove(fields, valuesOf(values));
      const [sealed] = await seal([valuesOf(values)], known, whereTenant(fields, whereGiven));
      const result = await write(known, () =>
        real.bulkUpdate(tableName, sealed, where, options, attributes),
      );
      if (Array.isArray(result)) await restoreReturned(fields, result, known);
      return result;
    },
    async upsert(tableName, insertValues, updateValues, where, options) {
      const known: Known = new Map();
      target.beforeWrite?.([valuesOf(insertValues), valuesOf(updateValues)]);
      refuseUntenantedUpsert(fields, valuesOf(updateValues));
      const [sealedInsert, sealedUpdate] = await encryptUpsert(
        fields,
        valuesOf(insertValues),
        valuesOf(updateValues),
        known,
      );
      const result = await write(known, () =>
        real.upsert(tableName, sealedInsert, sealedUpdate, where, options),
      );
      if (Array.isArray(result)) await restoreReturned(fields, [result[0]], known);
      return result;
    },
    async bulkDelete(tableName, where, options, model) {
      return real.bulkDelete(tableName, checkWhere(tableName, where), options, model);
    },
    async select(model, tableName, optionsGiven) {
      const options = check(tableName, optionsGiven);
      const results = await real.select(model, tableName, options);
      // Decrypted here rather than in an afterFind hook: finders with `hooks: false` get
      // plaintext too, and every afterFind hook sees it, whenever it was added.
      await decryptResults(results, valuesOf(options) as FindOptionsLike, model);
      if (target.byColumn && !configOf(model))
        await restoreReturned(fields, results, new Map(), model);
      return results;
    },
    async rawSelect(tableName, options, attributeSelector, model) {
      return real.rawSelect(tableName, check(tableName, options), attributeSelector, model);
    },
    increment: arithmetic(real.increment),
    decrement: arithmetic(real.decrement),
  };
}

/**
 * Reads through the shared query interface by a model without encrypted fields (or with none
 * configured for the table): only what it includes is guarded and decrypted.
 */
export function plainReads(real: Methods): Pick<Methods, 'select' | 'rawSelect'> {
  const none: FieldSet = { byName: new Map() };
  const names = (model: unknown): string[] => {
    const name = modelName(model);
    return name === undefined ? [] : [name];
  };
  return {
    async select(model, tableName, optionsGiven) {
      if (!hasIncludes(optionsGiven)) return real.select(model, tableName, optionsGiven);
      assertQueryable(none, valuesOf(optionsGiven) as FindLike, names(model));
      const options = rewriteFind(none, optionsGiven, names(model));
      const results = await real.select(model, tableName, options);
      await decryptResults(results, valuesOf(options) as FindOptionsLike, model);
      return results;
    },
    async rawSelect(tableName, optionsGiven, attributeSelector, model) {
      let options = optionsGiven;
      if (hasIncludes(options)) {
        assertQueryable(none, valuesOf(options) as FindLike, names(model));
        options = rewriteFind(none, options, names(model));
      }
      return real.rawSelect(tableName, options, attributeSelector, model);
    },
  };
}

/** A model's own view of the query interface: every write Sequelize makes for it passes here. */
export function modelQueryInterface(
  real: QueryInterfaceLike,
  originals: Methods,
  config: ModelConfig,
): QueryInterfaceLike {
  const target: Target = {
    fields: config,
    names: () => {
      const table = tableNameOf(config.model.getTableName());
      return table ? [config.model.name, table] : [config.model.name];
    },
  };
  return Object.assign(Object.create(real) as QueryInterfaceLike, interceptors(target, originals));
}
