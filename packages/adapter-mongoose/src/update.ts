/**
 * The encrypted copy of an update (`$set`, `$setOnInsert`, top-level fields, `$push` of
 * subdocuments...) or of a replacement document. Operators MongoDB would apply to the value
 * itself (`$inc`, `$push` onto an encrypted path, `$rename`, a pipeline reading it...) throw
 * `CmekQueryError`. The walk of assignments and pushes (`collectAssignments`, `collectPushed`)
 * serves the collection guard's checks too (guard-checks.ts), without copying.
 */
import { isObject } from './objects';
import type { ContextsOf } from './options';
import { type FieldPath, keySegments, relation } from './paths';
import { checkFilter, checkKey, checkUpdatePipeline, refuse } from './query-rules';
import { type Holder, holds, type Slot, SlotFinder } from './slots';
import { checkPipelineTenant, documentTenant, updateTenant } from './tenant';
import { encryptSlots, type IndexWrite, type WriteConfig } from './write';

/** Operators that only remove or reset a container or a value: no plaintext is written. */
const HARMLESS_ON_CONTAINER = new Set(['$unset', '$pop', '$currentDate', '$inc', '$mul', '$bit']);

/**
 * The slots of `$set`-like assignments (`{ key: value }`) in an operator object: a copy (to
 * encrypt) or, with a finder that does not copy, what is about to be sent (to check).
 */
export function collectAssignments(
  finder: SlotFinder,
  assignments: Holder,
  fields: readonly FieldPath[],
  out: Slot[],
  what: string,
): void {
  for (const key of Object.keys(assignments)) {
    if (key.startsWith('$')) continue;
    const segments = keySegments(key);
    for (const field of fields) {
      const rel = relation(segments, field.segments);
      if (rel === 'equal') finder.collect(assignments, key, [], field, out);
      else if (rel === 'keyIsPrefix') {
        finder.collect(assignments, key, field.segments.slice(segments.length), field, out);
      } else if (rel === 'fieldIsPrefix') refuse(field, what);
    }
  }
}

/**
 * The slots of `$push` (or `$addToSet`) values, one element or `{ $each: [...] }`, holding
 * encrypted fields. `pushes` is written only when the finder copies.
 */
export function collectPushed(
  finder: SlotFinder,
  pushes: Holder,
  fields: readonly FieldPath[],
  out: Slot[],
  op = '$push',
): void {
  for (const key of Object.keys(pushes)) {
    const segments = keySegments(key);
    for (const field of fields) {
      const rel = relation(segments, field.segments);
      if (rel === 'equal' || rel === 'fieldIsPrefix') refuse(field, op);
      if (rel !== 'keyIsPrefix') continue;
      const rest = field.segments.slice(segments.length);
      const value = pushes[key];
      if (isObject(value) && Object.hasOwn(value, '$each')) {
        const each = finder.root(value) as Holder;
        if (each !== value) pushes[key] = each;
        finder.collect(each, '$each', rest, field, out);
      } else {
        // one pushed element: walked through a holder, which receives the element's copy
        const holder: Holder = { element: value };
        finder.collect(holder, 'element', rest, field, out);
        if (holder.element !== value) pushes[key] = holder.element;
      }
    }
  }
}

/**
 * An operator other than `$set`, `$setOnInsert` and `$push`: refused where MongoDB would apply it
 * to an encrypted value, or would store or match a value holding one (`$addToSet`, `$min`,
 * `$max`, a `$pull` condition); `$unset`, and operators that only reset a container, pass.
 */
function checkOperator(op: string, args: Holder, fields: readonly FieldPath[]): void {
  for (const [key, value] of Object.entries(args)) {
    if (op === '$rename') {
      checkKey(key, fields, '$rename');
      checkKey(value, fields, '$rename');
      continue;
    }
    const segments = keySegments(key);
    for (const field of fields) {
      const rel = relation(segments, field.segments);
      if (rel === 'none') continue;
      if (op === '$unset') continue;
      if (rel === 'equal' || rel === 'fieldIsPrefix') refuse(field, op);
      // rel === 'keyIsPrefix': the operator works on a container of the encrypted path
      if (HARMLESS_ON_CONTAINER.has(op)) continue;
      if (op === '$pull') {
        if (isObject(value)) checkFilter(value, fields, segments);
        continue;
      }
      const rest = field.segments.slice(segments.length);
      const values =
        op === '$addToSet' && isObject(value) && '$each' in value ? value.$each : value;
      const list = Array.isArray(values) ? values : [values];
      if (list.some((v) => holds(v, rest, field))) refuse(field, op);
    }
  }
}

/**
 * Where an update puts a blind-index value: beside the value (in `$set`, `$setOnInsert` or the
 * top-level keys); for a null value, the index path is removed with `$unset` (nothing to remove
 * in `$setOnInsert`), so that a sparse unique index on it holds any number of them.
 */
function placeInUpdate(copy: Holder): (write: IndexWrite) => void {
  return ({ slot, column, value }) => {
    if (value !== null) {
      slot.holder[column] = value;
      return;
    }
    delete slot.holder[column];
    if (slot.holder !== copy.$setOnInsert) unsetIndex(copy, column);
  };
}

/** Adds `column` to the `$unset` of an update copy (whose `$unset`, if any, is already a copy). */
function unsetIndex(copy: Holder, column: string): void {
  copy.$unset = { ...(isObject(copy.$unset) ? copy.$unset : {}), [column]: 1 };
}

/**
 * The encrypted copy of an update; the caller's object is left as it is. Under a `tenantPath`, its
 * values are encrypted under the tenant it writes or its `filter` pins (tenant.ts).
 */
export async function encryptUpdate(
  config: WriteConfig,
  update: unknown,
  fields: readonly FieldPath[],
  contexts: ContextsOf,
  filter?: unknown,
): Promise<unknown> {
  if (Array.isArray(update)) {
    checkUpdatePipeline(update, fields);
    if (config.tenantPath !== undefined) checkPipelineTenant(config.tenantPath, update);
    return update;
  }
  if (!isObject(update)) return update;
  const finder = new SlotFinder(true);
  const copy = finder.root(update) as Holder;
  const slots: Slot[] = [];
  collectAssignments(finder, copy, fields, slots, 'an update');
  for (const op of Object.keys(copy)) {
    if (!op.startsWith('$')) continue;
    const args = copy[op];
    if (!isObject(args)) continue;
    const ownArgs = finder.root(args) as Holder;
    copy[op] = ownArgs;
    if (op === '$set' || op === '$setOnInsert') {
      collectAssignments(finder, ownArgs, fields, slots, op);
    } else if (op === '$push') {
      collectPushed(finder, ownArgs, fields, slots);
    } else {
      checkOperator(op, ownArgs, fields);
    }
  }
  // an unset value unsets its index
  if (isObject(copy.$unset)) {
    for (const key of Object.keys(copy.$unset)) {
      for (const { column } of config.indexes?.get(key) ?? []) unsetIndex(copy, column);
    }
  }
  const tenant =
    config.tenantPath === undefined
      ? undefined
      : updateTenant(config.tenantPath, copy, filter, fields);
  await encryptSlots(config, slots, contexts(tenant), { place: placeInUpdate(copy) });
  return copy;
}

/**
 * The encrypted copy of a replacement document (`replaceOne`, `findOneAndReplace`, a bulk
 * `insertOne`), under its own tenant when the schema has a `tenantPath`.
 */
export async function encryptReplacement(
  config: WriteConfig,
  replacement: unknown,
  fields: readonly FieldPath[],
  contexts: ContextsOf,
): Promise<unknown> {
  const finder = new SlotFinder(true);
  const copy = finder.root(replacement);
  const tenant =
    config.tenantPath === undefined ? undefined : documentTenant(config.tenantPath, copy);
  await encryptSlots(config, finder.collectAll(copy, fields), contexts(tenant));
  return copy;
}
