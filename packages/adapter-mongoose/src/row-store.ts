/** `mongooseRowStore`: the engine's `RowStore` over a model with the plugin, through its raw collection. */
import {
  type BlindIndexOptions,
  CmekConfigError,
  CmekError,
  CmekInvalidInputError,
  type Cursor,
  type IndexValues,
  type Row,
  type RowCounter,
  type RowStore,
  storeWriteError,
} from '@cmek/core';
import type { Model } from 'mongoose';
import { scrubTokens } from './driver-errors';
import { configOfSchema, contextsOf, type ModelLike, modelNameFor } from './options';
import { type FieldPath, keySegments } from './paths';
import { documentTenant } from './tenant';

interface RawCollection {
  find(
    filter: Record<string, unknown>,
    options: Record<string, unknown>,
  ): { toArray(): Promise<Record<string, unknown>[]> };
  countDocuments(filter: Record<string, unknown>): Promise<number>;
  updateOne(
    filter: Record<string, unknown>,
    update: Record<string, unknown>,
  ): Promise<{ matchedCount: number; modifiedCount: number }>;
}

interface ModelView extends ModelLike {
  readonly schema: object & {
    path(path: string): { instance?: string; cast?(value: unknown): unknown } | undefined;
  };
  readonly collection: { readonly collectionName: string };
  readonly db: {
    asPromise(): Promise<unknown>;
    readonly db?: { collection(name: string): RawCollection };
  };
}

function valueAt(doc: Record<string, unknown>, field: FieldPath, id: Cursor): string | null {
  let value: unknown = doc;
  for (const segment of field.segments) {
    if (Array.isArray(value)) {
      throw new CmekInvalidInputError(
        `document ${id}: '${field.path}' crosses an array, which a row store cannot address`,
      );
    }
    if (typeof value !== 'object' || value === null) return null;
    value = (value as Record<string, unknown>)[segment];
  }
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') {
    throw new CmekInvalidInputError(
      `document ${id}: '${field.path}' holds a value of type ${typeof value}, not a string`,
    );
  }
  return value;
}

/**
 * A `RowStore` for the backfill / rewrap / verify engine over a model whose schema has
 * `cmekPlugin`: it scans the raw collection by `_id` (ObjectIds as hex strings) and writes with
 * a compare-and-set `updateOne`. `paths` (default: every plugin path) must not cross an array.
 * The model's connection must be open (or opening). Its optional `count` (the engine's progress
 * total) is the raw collection's exact `countDocuments({})`: every document the scan reads. A path
 * with a blind index is declared in `blindIndexes`: `scan` returns its index paths in `indexes`
 * and a compare-and-set writes the index values it is given in the same guarded `updateOne`.
 */
export function mongooseRowStore<T>(
  model: Model<T>,
  paths?: readonly string[],
): RowStore & RowCounter {
  const view = model as unknown as ModelView;
  const config = configOfSchema(view.schema);
  if (config === undefined) {
    throw new CmekConfigError(
      `mongooseRowStore: the schema of ${view.modelName ?? 'this model'} has no cmekPlugin`,
    );
  }
  const wanted = paths ?? config.fields.map((f) => f.path);
  const fields = wanted.map((declared) => {
    const path = keySegments(declared).join('.');
    const field = config.fields.find((f) => f.path === path);
    if (field === undefined) {
      throw new CmekConfigError(`mongooseRowStore: '${declared}' is not a path of the plugin`);
    }
    if (field.inArray) {
      throw new CmekConfigError(
        `mongooseRowStore: '${declared}' is inside an array; a row store handles one value per document and path`,
      );
    }
    return field;
  });
  const byPath = new Map(fields.map((f) => [f.path, f]));
  const blindIndexes: Record<string, readonly BlindIndexOptions[]> = {};
  for (const field of fields) {
    const specs = config.indexes.get(field.path);
    if (specs !== undefined) blindIndexes[field.path] = specs;
  }
  const indexColumns = Object.values(blindIndexes).flatMap((specs) => specs.map((s) => s.column));
  const indexed = indexColumns.length > 0;
  const idType = view.schema.path('_id');
  const isObjectId = idType?.instance === 'ObjectId';
  const toId = (cursor: Cursor): unknown =>
    idType?.cast !== undefined ? idType.cast(cursor) : cursor;
  const fromId = (id: unknown): Cursor => {
    if (typeof id === 'string' || typeof id === 'number') return id;
    if (isObjectId && id !== null && typeof id === 'object') return String(id);
    throw new CmekInvalidInputError(
      'mongooseRowStore: an _id that is not a string, a number or an ObjectId cannot be a cursor',
    );
  };
  const collection = async (): Promise<RawCollection> => {
    await view.db.asPromise();
    const db = view.db.db;
    if (db === undefined) throw new CmekConfigError('mongooseRowStore: the connection is not open');
    return db.collection(view.collection.collectionName);
  };
  const fieldOf = (name: string): FieldPath => {
    const field = byPath.get(name);
    if (field === undefined) {
      throw new CmekInvalidInputError(`mongooseRowStore: '${name}' is not a field of this store`);
    }
    return field;
  };

  const oneAtATime = serialPerKey();
  const { tenantPath } = config;
  const tenantType = tenantPath === undefined ? undefined : view.schema.path(tenantPath);
  /** The filter of one tenant's documents: its id cast as the schema stores it. */
  const tenantFilter = (tenant: string | undefined): Record<string, unknown> =>
    tenantPath === undefined || tenant === undefined
      ? {}
      : { [tenantPath]: tenantType?.cast !== undefined ? tenantType.cast(tenant) : tenant };

  return {
    name: modelNameFor(config, view),
    fields: fields.map((f) => f.path),
    ...(indexed ? { blindIndexes } : {}),
    ...(tenantPath === undefined ? {} : { tenantColumn: tenantPath }),
    contextFor(name, tenant) {
      // the tenant goes into the context exactly as on the plugin's own writes
      return { ...contextsOf(config, view, tenant)(fieldOf(name)) };
    },
    async scan(after, limit, options) {
      const raw = await collection();
      const projection = Object.fromEntries(
        [...fields.map((f) => f.path), ...indexColumns, ...(tenantPath ? [tenantPath] : [])].map(
          (path) => [path, 1],
        ),
      );
      const filter = {
        ...tenantFilter(options?.tenant),
        ...(after === undefined ? {} : { _id: { $gt: toId(after) } }),
      };
      const docs = await raw.find(filter, { sort: { _id: 1 }, limit, projection }).toArray();
      return docs.map((doc): Row => {
        const id = fromId(doc._id);
        const values = Object.fromEntries(fields.map((f) => [f.path, valueAt(doc, f, id)]));
        const tenant =
          tenantPath === undefined ? {} : { tenant: documentTenant(tenantPath, doc) ?? null };
        if (!indexed) return { id, values, ...tenant };
        const indexes = Object.fromEntries(
          indexColumns.map((column) => [column, indexAt(doc, column, id)]),
        );
        return { id, values, indexes, ...tenant };
      });
    },
    async count(options?: { readonly tenant?: string }) {
      const raw = await collection();
      return raw.countDocuments(tenantFilter(options?.tenant));
    },
    compareAndSet(id, name, expected, next, indexes) {
      const field = fieldOf(name);
      const write = async (): Promise<boolean> => {
        const update = indexUpdate(field.path, next, indexes, blindIndexes[field.path]);
        const raw = await collection();
        try {
          const result = await raw.updateOne({ _id: toId(id), [field.path]: expected }, update);
          return result.matchedCount === 1 && result.modifiedCount === 1;
        } catch (error) {
          throw casError(error, view.collection.collectionName, field.path, [expected, next]);
        }
      };
      return oneAtATime(String(id), write);
    },
  };
}

/** A stored index value: a string, or null when absent. */
function indexAt(doc: Record<string, unknown>, column: string, id: Cursor): string | null {
  const value = doc[column];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') {
    throw new CmekInvalidInputError(
      `document ${id}: the blind-index path '${column}' holds a value of type ${typeof value}, not a string`,
    );
  }
  return value;
}

/**
 * The update of a compare-and-set: the value, and the index values given with it (only the
 * field's own index paths; a null index is unset, as the plugin's writes do).
 */
function indexUpdate(
  path: string,
  next: string,
  indexes: IndexValues | undefined,
  specs: readonly BlindIndexOptions[] | undefined,
): Record<string, unknown> {
  const $set: Record<string, unknown> = { [path]: next };
  const $unset: Record<string, unknown> = {};
  for (const [column, value] of Object.entries(indexes ?? {})) {
    if (!specs?.some((spec) => spec.column === column)) {
      throw new CmekInvalidInputError(
        `mongooseRowStore: '${column}' is not a blind-index path of '${path}'`,
      );
    }
    if (value === null) $unset[column] = 1;
    else $set[column] = value;
  }
  return Object.keys($unset).length > 0 ? { $set, $unset } : { $set };
}

/**
 * Runs the writes of one key (a document) one at a time, each after the one before has settled:
 * FerretDB 1.x applies concurrent updates of one document as whole-document rewrites, so two
 * fields written at once lose one of them.
 */
function serialPerKey(): <T>(key: string, write: () => Promise<T>) => Promise<T> {
  const writing = new Map<string, Promise<void>>();
  return (key, write) => {
    const run = (writing.get(key) ?? Promise.resolve()).then(write, write);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    writing.set(key, settled);
    void settled.then(() => {
      if (writing.get(key) === settled) writing.delete(key);
    });
    return run;
  };
}

/**
 * A driver error of a compare-and-set as a `CmekQueryError` whose message holds neither the old
 * value (often the legacy plaintext) nor the new token; the driver error, scrubbed of both, is its
 * non-enumerable `cause`.
 */
function casError(
  error: unknown,
  collection: string,
  path: string,
  values: readonly string[],
): unknown {
  if (CmekError.isInstance(error)) return error;
  return storeWriteError(
    scrubTokens(error, values),
    path,
    `compareAndSet on ${collection}.${path}`,
  );
}
