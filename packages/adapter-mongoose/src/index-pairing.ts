/**
 * The collection guard's pairing of a blind-index path with its value. The middleware writes both
 * in the same write: an index beside a value, a removed index beside a removed value. A write
 * that sets or removes an index path without doing the same to its value got around it (the index
 * path written through the model, or a direct `Model.collection` call) and would leave an index
 * that is not the value's: a lookup would then find the wrong document, or none. Refused with
 * `CmekQueryError` before anything is sent; the message names paths, never a value.
 */
import { CmekQueryError } from '@cmek/core';
import { isObject } from './objects';
import type { FieldPath } from './paths';
import type { Holder } from './slots';

/** What a write does to a top-level path: gives it a value, or removes it (`null`, `$unset`). */
export type Presence = 'set' | 'removed';

/** Operators whose keys are assigned (the top-level keys of an update too). */
const ASSIGNING = ['$set', '$setOnInsert', '$min', '$max'];

function presenceOf(value: unknown): Presence {
  return value === null || value === undefined ? 'removed' : 'set';
}

/** What an update (not a pipeline) does to each top-level path it names. */
export function updatePresence(update: Holder): Map<string, Presence> {
  const out = new Map<string, Presence>();
  for (const [key, value] of Object.entries(update)) {
    if (!key.startsWith('$')) out.set(key, presenceOf(value));
  }
  for (const op of ASSIGNING) {
    const args = update[op];
    if (!isObject(args)) continue;
    for (const [key, value] of Object.entries(args)) out.set(key, presenceOf(value));
  }
  const unset = update.$unset;
  if (isObject(unset)) for (const key of Object.keys(unset)) out.set(key, 'removed');
  return out;
}

/** What a document to insert (or a replacement) holds at each of its top-level keys. */
export function documentPresence(document: Holder): Map<string, Presence> {
  return new Map(Object.entries(document).map(([key, value]) => [key, presenceOf(value)]));
}

/**
 * Throws when a write sets or removes an index path without doing the same to its value. In a
 * document, a value key that is absent counts as removed.
 */
export function checkIndexPairs(
  presence: ReadonlyMap<string, Presence>,
  fields: readonly FieldPath[],
  collection: string,
  document = false,
): void {
  for (const field of fields) {
    if (field.indexOf === undefined) continue;
    const index = presence.get(field.path);
    if (index === undefined) continue;
    const value = presence.get(field.indexOf) ?? (document ? 'removed' : undefined);
    if (value === index) continue;
    const verb = index === 'set' ? 'sets' : 'removes';
    throw new CmekQueryError(
      field.path,
      `refused a write to the collection '${collection}': it ${verb} the blind-index path '${field.path}' but ${value === undefined ? 'does not write' : value === 'set' ? 'sets' : 'removes'} its value '${field.indexOf}'; the index would not be the value's, and a lookup would find the wrong document or none. cmekPlugin writes the index with every value of '${field.indexOf}': write that path instead. Nothing was sent.`,
    );
  }
}

/** An upsert's filter seeds an index path into the document it may insert, without its value. */
export function refuseIndexSeeds(
  seeds: Holder,
  fields: readonly FieldPath[],
  collection: string,
): void {
  const field = fields.find((f) => f.indexOf !== undefined && Object.hasOwn(seeds, f.path));
  if (field === undefined) return;
  throw new CmekQueryError(
    field.path,
    `refused an upsert on the collection '${collection}': its filter would copy the blind-index path '${field.path}' into a new document without its value '${field.indexOf}'. Look the document up first, then create or update it. Nothing was sent.`,
  );
}
