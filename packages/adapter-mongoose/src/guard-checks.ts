/**
 * The checks of the collection guard: what reaches a guarded collection must hold, at every
 * encrypted path, a `cmek:v1:` token or null (at a blind-index path, a `cmek:bi1:` value or null). By then the middleware has encrypted every value,
 * so the normal path costs one prefix check per value; a value that is not a token got around
 * the middleware (a hook registered after the plugin, a direct `Model.collection` call) and is
 * refused before anything is sent. Nothing here decrypts, and no message holds a value.
 */
import { CmekPlaintextRejectedError, isBlindIndexValue, TOKEN_PREFIX } from '@cmek/core';
import {
  checkIndexPairs,
  documentPresence,
  refuseIndexSeeds,
  updatePresence,
} from './index-pairing';
import { isObject } from './objects';
import { type FieldPath, keySegments, relation } from './paths';
import { checkKey, checkUpdatePipeline, refuse } from './query-rules';
import { type Holder, holds, type Slot, SlotFinder } from './slots';
import { collectAssignments, collectPushed } from './update';

/** Operators whose values are stored as they are. */
const ASSIGNING = new Set(['$set', '$setOnInsert', '$min', '$max']);
/** Operators whose values are added to arrays (one element or `$each`). */
const ADDING = new Set(['$push', '$addToSet']);
/** Operators that only remove: `$pull` conditions and `$pullAll` values are never stored. */
const REMOVING = new Set(['$unset', '$pull', '$pullAll', '$pop']);

function kindOf(value: unknown): string {
  if (typeof value === 'string') return 'a string that is not a cmek token';
  if (Array.isArray(value)) return 'an array';
  return `a value of type ${typeof value}`;
}

/** What a guarded path may hold: a token (a blind-index value, on an index path) or null. */
function allowed(value: unknown, field: FieldPath): boolean {
  if (value === null) return true;
  if (field.indexOf !== undefined) return isBlindIndexValue(value);
  return typeof value === 'string' && value.startsWith(TOKEN_PREFIX);
}

function rejectUnencrypted(slots: readonly Slot[], collection: string): void {
  for (const { holder, key, field } of slots) {
    const value = holder[key];
    if (allowed(value, field)) continue;
    if (field.indexOf !== undefined) {
      throw new CmekPlaintextRejectedError(
        `refused a write to the collection '${collection}': the blind-index path '${field.path}' (of '${field.indexOf}') holds ${kindOf(value).replace('cmek token', 'cmek blind index')}. cmekPlugin writes it with every value of '${field.indexOf}'; write that path through the model instead. Nothing was sent.`,
        field.path,
      );
    }
    throw new CmekPlaintextRejectedError(
      `refused a write to the collection '${collection}': the encrypted path '${field.path}' holds ${kindOf(value)}. The value got around cmekPlugin's middleware (a hook registered after the plugin, a call that skipped the plugin's middleware, or a direct Model.collection call): register such hooks before the plugin, and write through the model. Nothing was sent.`,
      field.path,
    );
  }
}

/** A document to insert, or a replacement: every encrypted path holds a token or null. */
export function checkDocument(
  document: unknown,
  fields: readonly FieldPath[],
  collection: string,
): void {
  const finder = new SlotFinder(false);
  rejectUnencrypted(finder.collectAll(finder.root(document), fields), collection);
  if (isObject(document)) checkIndexPairs(documentPresence(document), fields, collection, true);
}

/** Operators other than the ones above: refused on an encrypted path, or on a container holding one. */
function checkOtherOperator(op: string, args: Holder, fields: readonly FieldPath[]): void {
  for (const [key, value] of Object.entries(args)) {
    const segments = keySegments(key);
    for (const field of fields) {
      const rel = relation(segments, field.segments);
      if (rel === 'equal' || rel === 'fieldIsPrefix') refuse(field, op);
      if (rel === 'keyIsPrefix' && holds(value, field.segments.slice(segments.length), field)) {
        refuse(field, op);
      }
    }
  }
}

/**
 * An update document (or pipeline) about to be sent. Mongoose's own updates (a document's
 * `save`: `$set`, `$unset`, `$push` / `$addToSet` with `$each`, `$pull` by `_id`, `$inc` of the
 * version key) pass when the middleware encrypted the document.
 */
export function checkUpdate(
  update: unknown,
  fields: readonly FieldPath[],
  collection: string,
): void {
  if (Array.isArray(update)) {
    checkUpdatePipeline(update, fields);
    return;
  }
  if (!isObject(update)) return;
  const finder = new SlotFinder(false);
  const slots: Slot[] = [];
  collectAssignments(finder, update, fields, slots, 'an update');
  for (const [op, args] of Object.entries(update)) {
    if (!op.startsWith('$') || !isObject(args)) continue;
    if (ASSIGNING.has(op)) collectAssignments(finder, args, fields, slots, op);
    else if (ADDING.has(op)) collectPushed(finder, args, fields, slots, op);
    else if (op === '$rename') {
      for (const [from, to] of Object.entries(args)) {
        checkKey(from, fields, op);
        checkKey(to, fields, op);
      }
    } else if (!REMOVING.has(op)) checkOtherOperator(op, args, fields);
  }
  rejectUnencrypted(slots, collection);
  checkIndexPairs(updatePresence(update), fields, collection);
}

/** The value an upsert copies from a condition into the new document, if it copies one. */
function seededValue(condition: unknown): { value: unknown } | undefined {
  if (!isObject(condition) || !Object.keys(condition).some((k) => k.startsWith('$'))) {
    return { value: condition };
  }
  if (Object.hasOwn(condition, '$eq')) return { value: condition.$eq };
  for (const op of ['$in', '$all']) {
    const list = condition[op];
    if (Array.isArray(list) && list.length === 1) return { value: list[0] };
  }
  return undefined;
}

function collectSeeds(filter: Holder, seeds: Holder): void {
  for (const [key, condition] of Object.entries(filter)) {
    if (key === '$and' && Array.isArray(condition)) {
      for (const sub of condition) if (isObject(sub)) collectSeeds(sub, seeds);
      continue;
    }
    if (key.startsWith('$')) continue;
    const seeded = seededValue(condition);
    if (seeded !== undefined) seeds[key] = seeded.value;
  }
}

/** The equality conditions of an upsert's filter, which MongoDB copies into the document it inserts. */
export function checkUpsertFilter(
  filter: unknown,
  fields: readonly FieldPath[],
  collection: string,
): void {
  if (!isObject(filter)) return;
  const seeds: Holder = {};
  collectSeeds(filter, seeds);
  refuseIndexSeeds(seeds, fields, collection);
  const slots: Slot[] = [];
  collectAssignments(new SlotFinder(false), seeds, fields, slots, 'an upsert filter');
  rejectUnencrypted(slots, collection);
}

/** The driver's `bulkWrite` operations (`insertOne` also in the driver's bare form `{ insertOne: doc }`). */
export function checkBulkOperations(
  operations: unknown,
  fields: readonly FieldPath[],
  collection: string,
): void {
  if (!Array.isArray(operations)) return;
  for (const operation of operations) {
    if (!isObject(operation)) continue;
    for (const [kind, spec] of Object.entries(operation)) {
      if (!isObject(spec)) continue;
      if (kind === 'insertOne') {
        checkDocument(spec.document == null ? spec : spec.document, fields, collection);
        continue;
      }
      if (kind === 'updateOne' || kind === 'updateMany') {
        checkUpdate(spec.update, fields, collection);
      } else if (kind === 'replaceOne') {
        checkDocument(spec.replacement, fields, collection);
      } else continue;
      if (spec.upsert === true) checkUpsertFilter(spec.filter, fields, collection);
    }
  }
}
