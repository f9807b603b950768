/**
 * The last line below the middleware: the write methods of a model's collection (Mongoose's
 * wrapper around the driver's collection, `Model.collection`, which every Mongoose write of the
 * model goes through: `save`, `insertMany`, query updates and replacements, `bulkWrite`,
 * `bulkSave`, `aggregate`) check what they are given before it is sent (guard-checks.ts). The
 * methods are wrapped on the collection object itself (own, non-enumerable properties), so the
 * driver and other collections are untouched.
 *
 * Mongoose caches one collection object per connection and name, so every model of that
 * connection on that collection (discriminators, a second model on the same name) is guarded;
 * the fields checked are those of every plugin model on it.
 */
import { CmekQueryError } from '@cmek/core';
import { checkPipelineOutput } from './aggregate';
import { scrubTokens } from './driver-errors';
import { checkBulkOperations, checkDocument, checkUpdate, checkUpsertFilter } from './guard-checks';
import type { Method } from './objects';
import { type FieldPath, pathList } from './paths';

type Args = readonly unknown[];
type Check = (args: Args, fields: readonly FieldPath[], collection: string) => void;

function upserts(options: unknown): boolean {
  return (
    typeof options === 'object' &&
    options !== null &&
    (options as { upsert?: unknown }).upsert === true
  );
}

const checkUpdateCall: Check = ([filter, update, options], fields, collection) => {
  checkUpdate(update, fields, collection);
  if (upserts(options)) checkUpsertFilter(filter, fields, collection);
};

const checkReplaceCall: Check = ([filter, replacement, options], fields, collection) => {
  checkDocument(replacement, fields, collection);
  if (upserts(options)) checkUpsertFilter(filter, fields, collection);
};

const refuseBulkBuilder: Check = (_args, fields, collection) => {
  throw new CmekQueryError(
    fields[0]!.path,
    `the ordered / unordered bulk operation builders of the collection '${collection}' cannot be checked for the encrypted paths (${pathList(fields)}); use Model.bulkWrite`,
  );
};

/** Methods that return a promise: a refusal is a rejected promise. */
const ASYNC_CHECKS: Readonly<Record<string, Check>> = {
  insertOne: ([document], fields, collection) => checkDocument(document, fields, collection),
  insertMany: ([documents], fields, collection) => {
    if (Array.isArray(documents)) {
      for (const document of documents) checkDocument(document, fields, collection);
    }
  },
  updateOne: checkUpdateCall,
  updateMany: checkUpdateCall,
  findOneAndUpdate: checkUpdateCall,
  replaceOne: checkReplaceCall,
  findOneAndReplace: checkReplaceCall,
  bulkWrite: ([operations], fields, collection) =>
    checkBulkOperations(operations, fields, collection),
};

/** Methods that return a cursor or a builder: a refusal is thrown. */
const SYNC_CHECKS: Readonly<Record<string, Check>> = {
  aggregate: ([pipeline], fields) => checkPipelineOutput(pipeline, fields),
  initializeOrderedBulkOp: refuseBulkBuilder,
  initializeUnorderedBulkOp: refuseBulkBuilder,
};

/** The fields guarded on each collection object. */
const guarded = new WeakMap<object, FieldPath[]>();

function wrap(
  collection: Record<string, unknown>,
  method: string,
  check: (args: Args) => void,
  sync: boolean,
): void {
  const original = collection[method];
  if (typeof original !== 'function') return;
  const call = original as Method;
  const guardedMethod: Method = function (this: unknown, ...args: unknown[]) {
    try {
      check(args);
    } catch (error) {
      if (sync) throw error;
      return Promise.reject(error);
    }
    const result = call.apply(this, args);
    // a rejected write quotes what it wrote: its tokens are cut (driver-errors.ts)
    return sync || !(result instanceof Promise)
      ? result
      : result.catch((error: unknown) => {
          throw scrubTokens(error);
        });
  };
  Object.defineProperty(collection, method, {
    value: guardedMethod,
    configurable: true,
    enumerable: false,
    writable: true,
  });
}

/** The encrypted paths guarded on a collection object, if it is guarded. */
export function guardedFields(collection: unknown): readonly FieldPath[] | undefined {
  return typeof collection === 'object' && collection !== null
    ? guarded.get(collection)
    : undefined;
}

/** Guards a collection object for `fields` (again for the same object: adds the new fields). */
export function guardCollection(collection: unknown, fields: readonly FieldPath[]): void {
  if (typeof collection !== 'object' || collection === null) return;
  const known = guarded.get(collection);
  if (known !== undefined) {
    for (const field of fields) {
      if (!known.some((k) => k.path === field.path)) known.push(field);
    }
    return;
  }
  const list = [...fields];
  guarded.set(collection, list);
  const view = collection as Record<string, unknown>;
  const name = (): string => String(view.collectionName ?? view.name ?? '?');
  for (const [method, check] of Object.entries(ASYNC_CHECKS)) {
    wrap(view, method, (args) => check(args, list, name()), false);
  }
  for (const [method, check] of Object.entries(SYNC_CHECKS)) {
    wrap(view, method, (args) => check(args, list, name()), true);
  }
}
