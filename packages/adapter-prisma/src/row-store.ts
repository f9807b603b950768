/**
 * `prismaRowStore`: the `RowStore` the backfill / rewrap / verify engine drives, over one model of
 * a plain Prisma client (not the extended one: the store handles stored values). A field with a
 * `blindIndex` makes it declare `blindIndexes`: `scan` returns the index fields, and a
 * compare-and-set writes the index values the engine gives with the value, in the same guarded
 * `updateMany`.
 */
import {
  type BlindIndexOptions,
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
  storeWriteError,
  tenantIdOf,
} from '@cmek/core';
import { modelOf, schemaOf } from './data-model';
import { isCmekClient } from './extension';
import { type CmekModelOptions, normaliseModels } from './options';
import { scrubTokens } from './redact';

export interface PrismaRowStoreOptions {
  /**
   * A Prisma client without the cmek extension (the `new PrismaClient(…)` you extend): the store
   * reads and writes stored values, tokens and legacy plaintext alike.
   */
  readonly client: object;
  /** The model, named as in the Prisma schema (`User`). */
  readonly model: string;
  /**
   * The encrypted fields, as given to `cmekExtension` for this model (contexts and blind indexes
   * must match).
   */
  readonly fields: CmekModelOptions['fields'];
  /** A field of unique, ordered values (`Int`, `BigInt` or `String`). Default `id`. */
  readonly primaryKey?: string;
  /** The store's name in reports. Default: the model name. */
  readonly name?: string;
  /**
   * The field holding each record's tenant id, as given to `cmekExtension` for a tenant envelope:
   * scanned into `Row.tenant`, filtered on by a run scoped to one tenant (`scan` / `count` with
   * `{ tenant }`), and put in each context under `tenantKey`.
   */
  readonly tenantColumn?: string;
  /** The context key of the tenant id: the tenant envelope's `tenantKey`. Default `tenant`. */
  readonly tenantKey?: string;
}

interface Delegate {
  findMany(args: unknown): PromiseLike<Record<string, unknown>[]>;
  updateMany(args: unknown): PromiseLike<{ count: number }>;
  count(args?: unknown): PromiseLike<number>;
}

interface Client {
  $transaction(queries: PromiseLike<unknown>[]): Promise<unknown[]>;
}

function asText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  throw new CmekInvalidInputError(`a stored value is ${typeof value}, not a string`);
}

function asCursor(value: unknown): Cursor {
  if (typeof value === 'number' || typeof value === 'string') return value;
  if (typeof value === 'bigint') return value.toString();
  throw new CmekInvalidInputError('the primary key must be a number, a bigint or a string');
}

const MIN_SCRUB = 4;

/** Takes `values` (the old value, often a legacy plaintext, and the new token) out of `error`. */
function scrubValues<E>(error: E, values: readonly string[]): E {
  if (typeof error !== 'object' || error === null) return error;
  const sorted = [...values]
    .filter((v) => v.length >= MIN_SCRUB)
    .sort((a, b) => b.length - a.length);
  const record = error as Record<string, unknown>;
  const names = [...Object.getOwnPropertyNames(error), 'stack'];
  for (const key of names) {
    const value = record[key];
    if (typeof value !== 'string' || key === 'code' || key === 'name') continue;
    let clean = value;
    for (const v of sorted) clean = clean.split(v).join('?');
    if (clean !== value) {
      Object.defineProperty(error, key, { value: clean, configurable: true, writable: true });
    }
  }
  return scrubTokens(error);
}

/**
 * The engine's `RowStore` over one model (plus `count`: the model's `count()`, asked once per run
 * for the progress total). The compare-and-set is an `updateMany` whose `where` is the primary key
 * and the expected stored value; `compareAndSetMany` runs a batch of them in one `$transaction`.
 */
export function prismaRowStore(options: PrismaRowStoreOptions): RowStore & RowCounter {
  const { client, model: modelName } = options;
  if (typeof client !== 'object' || client === null) {
    throw new CmekConfigError('prismaRowStore needs `client` (a PrismaClient)');
  }
  if (isCmekClient(client)) {
    throw new CmekConfigError(
      'prismaRowStore needs the plain PrismaClient, not the one extended by cmekExtension (the store reads and writes stored values)',
    );
  }
  if (typeof modelName !== 'string' || modelName.length === 0) {
    throw new CmekConfigError('prismaRowStore needs `model`');
  }
  const tenantKey = options.tenantKey ?? 'tenant';
  if (typeof tenantKey !== 'string' || tenantKey.length === 0) {
    throw new CmekConfigError('prismaRowStore: tenantKey must be a non-empty string');
  }
  const models = normaliseModels(
    {
      [modelName]: {
        fields: options.fields,
        ...(options.tenantColumn === undefined ? {} : { tenantColumn: options.tenantColumn }),
      },
    },
    'prismaRowStore',
    undefined,
    tenantKey,
  );
  const configs = models.get(modelName)!;
  const model = modelOf(schemaOf(client, models), modelName);
  const primaryKey = options.primaryKey ?? 'id';
  if (!model.fields.has(primaryKey) || model.relations.has(primaryKey)) {
    throw new CmekConfigError(`prismaRowStore: ${modelName} has no scalar field ${primaryKey}`);
  }
  const delegateName = `${modelName.charAt(0).toLowerCase()}${modelName.slice(1)}`;
  const delegate = (client as Record<string, unknown>)[delegateName] as Delegate | undefined;
  if (typeof delegate?.findMany !== 'function') {
    throw new CmekConfigError(`prismaRowStore: the client has no model delegate ${delegateName}`);
  }
  const bigintKey = model.types.get(primaryKey) === 'BigInt';
  const key = (id: Cursor): unknown => (bigintKey ? BigInt(id) : id);
  const fields = [...configs.keys()];
  const contexts = new Map<string, EncryptionContext>([...configs].map(([f, c]) => [f, c.context]));
  const blindIndexes: Record<string, readonly BlindIndexOptions[]> = Object.fromEntries(
    [...configs].filter(([, c]) => c.indexes.length > 0).map(([f, c]) => [f, c.indexes]),
  );
  const indexColumns = [...model.indexColumns.keys()];
  const tenant = model.tenant;
  /** The records of the run: one tenant's when the engine scopes it to one. */
  const scope = (scanOptions: ScanOptions | undefined): Record<string, unknown> => {
    if (scanOptions?.tenant === undefined) return {};
    if (tenant === undefined) {
      throw new CmekConfigError(
        `prismaRowStore: a run scoped to tenant '${scanOptions.tenant}' needs tenantColumn on ${modelName}`,
      );
    }
    const type = model.types.get(tenant);
    const id = scanOptions.tenant;
    return { [tenant]: type === 'Int' ? Number(id) : type === 'BigInt' ? BigInt(id) : id };
  };

  const fieldOf = (field: string): string => {
    if (!contexts.has(field)) {
      throw new CmekInvalidInputError(`'${field}' is not an encrypted field of ${modelName}`);
    }
    return field;
  };

  /** The index values of a write, checked to be the field's own index fields. */
  const indexData = (field: string, indexes: IndexValues | undefined): IndexValues => {
    if (indexes === undefined) return {};
    for (const [column, value] of Object.entries(indexes)) {
      if (model.indexColumns.get(column)?.field !== field) {
        throw new CmekInvalidInputError(
          `'${column}' is not a blind index of ${modelName}.${field}`,
        );
      }
      if (value !== null && typeof value !== 'string') {
        throw new CmekInvalidInputError(`the blind index ${column} takes a string or null`);
      }
    }
    return indexes;
  };

  const casQuery = (w: CasWrite) =>
    delegate.updateMany({
      where: { [primaryKey]: key(w.id), [fieldOf(w.field)]: w.expected },
      data: { ...indexData(w.field, w.indexes), [w.field]: w.next },
    });

  const casError = (error: unknown, what: string, field: string, values: string[]) =>
    storeWriteError(
      scrubValues(error, values),
      field,
      `${what} on ${field === '(batch)' ? modelName : `${modelName}.${field}`}`,
    );

  return {
    name: options.name ?? modelName,
    fields: Object.freeze([...fields]),
    ...(indexColumns.length === 0 ? {} : { blindIndexes: Object.freeze(blindIndexes) }),
    ...(tenant === undefined ? {} : { tenantColumn: tenant }),
    contextFor(field, id) {
      return {
        ...contexts.get(fieldOf(field))!,
        ...(tenant === undefined || id === undefined ? {} : { [tenantKey]: id }),
      };
    },
    async scan(after, limit, scanOptions) {
      if (!Number.isInteger(limit) || limit <= 0) {
        throw new CmekInvalidInputError('scan needs a positive integer limit');
      }
      const selected = [primaryKey, ...fields, ...indexColumns, ...(tenant ? [tenant] : [])];
      const rows = await delegate.findMany({
        select: Object.fromEntries(selected.map((f) => [f, true])),
        where: {
          ...scope(scanOptions),
          ...(after === undefined ? {} : { [primaryKey]: { gt: key(after) } }),
        },
        orderBy: { [primaryKey]: 'asc' },
        take: limit,
      });
      return rows.map(
        (row): Row => ({
          id: asCursor(row[primaryKey]),
          values: Object.fromEntries(fields.map((f) => [f, asText(row[f])])),
          ...(indexColumns.length === 0
            ? {}
            : { indexes: Object.fromEntries(indexColumns.map((c) => [c, asText(row[c])])) }),
          ...(tenant === undefined ? {} : { tenant: tenantIdOf(row[tenant]) ?? null }),
        }),
      );
    },
    async count(scanOptions?: ScanOptions) {
      const n = await delegate.count({ where: scope(scanOptions) });
      if (!Number.isSafeInteger(n) || n < 0) {
        throw new CmekQueryError('(count)', `the row count of ${modelName} is not a number`);
      }
      return n;
    },
    async compareAndSet(id, field, expected, next, indexes) {
      const write = { id, field, expected, next, ...(indexes === undefined ? {} : { indexes }) };
      try {
        return (await casQuery(write)).count === 1;
      } catch (error) {
        throw casError(error, 'compareAndSet', field, [expected, next]);
      }
    },
    async compareAndSetMany(writes: readonly CasWrite[]) {
      for (const w of writes) indexData(fieldOf(w.field), w.indexes);
      if (writes.length === 0) return [];
      try {
        const results = await (client as Client).$transaction(writes.map(casQuery));
        return results.map((r) => (r as { count: number }).count === 1);
      } catch (error) {
        throw casError(
          error,
          'compareAndSetMany',
          '(batch)',
          writes.flatMap((w) => [w.expected, w.next]),
        );
      }
    },
  };
}
