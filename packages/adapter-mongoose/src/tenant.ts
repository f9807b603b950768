/**
 * The tenant of each write and read under a `tenantPath` (a tenant envelope): a document's own
 * tenant id (save, insertMany, replacements, results), or an update's: the one its `$set` (or its
 * top-level keys) writes, else the one its filter pins (`{ workspaceId: 'a' }` or `{ $eq: 'a' }`,
 * alone or under `$and`). A tenant that cannot be told is left `undefined`: the tenant envelope
 * then refuses the values (`CMEK_UNKNOWN_TENANT`), never the default KEK.
 */
import { CmekQueryError, tenantIdOf } from '@cmek/core';
import { isObject } from './objects';
import { type FieldPath, keySegments, relation } from './paths';
import type { Holder } from './slots';

/** A tenant id as a context holds it: a string, a number, or an ObjectId's hex string. */
export function tenantIdOfValue(value: unknown): string | undefined {
  if (typeof value === 'object' && value !== null && 'toHexString' in value) {
    const hex = (value as { toHexString(): unknown }).toHexString();
    return typeof hex === 'string' ? hex : undefined;
  }
  return tenantIdOf(value);
}

/** The tenant of a document (its raw storage or a plain object). */
export function documentTenant(tenantPath: string, doc: unknown): string | undefined {
  if (typeof doc !== 'object' || doc === null) return undefined;
  return tenantIdOfValue((doc as Holder)[tenantPath]);
}

/** The tenant ids a filter pins on `tenantPath`, directly or under `$and`. */
function pinned(filter: unknown, tenantPath: string, out: Set<string>): void {
  if (!isObject(filter)) return;
  if (Object.hasOwn(filter, tenantPath)) {
    const value = filter[tenantPath];
    const id =
      isObject(value) && Object.keys(value).length === 1 && '$eq' in value
        ? tenantIdOfValue(value.$eq)
        : tenantIdOfValue(value);
    if (id !== undefined) out.add(id);
  }
  if (Array.isArray(filter.$and)) for (const part of filter.$and) pinned(part, tenantPath, out);
}

/** The single tenant a filter pins, if it pins exactly one. */
export function filterTenant(tenantPath: string, filter: unknown): string | undefined {
  const found = new Set<string>();
  pinned(filter, tenantPath, found);
  return found.size === 1 ? [...found][0] : undefined;
}

function refuseTenant(tenantPath: string, message: string): never {
  throw new CmekQueryError(tenantPath, `the tenant path '${tenantPath}' ${message}`);
}

/**
 * The tenant of an update: the one its `$set` (or a top-level key) writes, which must come with
 * every encrypted path (the others would stay under the old tenant's context); else the one the
 * filter pins. Any other operator on the tenant path (`$unset`, `$rename`, `$setOnInsert`...) is
 * refused: pin the tenant in the filter instead.
 */
export function updateTenant(
  tenantPath: string,
  update: Holder,
  filter: unknown,
  fields: readonly FieldPath[],
): string | undefined {
  const assigned: Holder[] = [update];
  for (const [op, args] of Object.entries(update)) {
    if (!op.startsWith('$') || !isObject(args)) continue;
    if (op === '$set') assigned.push(args);
    else if (
      Object.hasOwn(args, tenantPath) ||
      (op === '$rename' && Object.values(args).includes(tenantPath))
    ) {
      refuseTenant(
        tenantPath,
        `cannot be changed with ${op}; pin the tenant in the filter, or $set it with every encrypted path`,
      );
    }
  }
  const writes = assigned.filter((holder) => Object.hasOwn(holder, tenantPath));
  if (writes.length === 0) return filterTenant(tenantPath, filter);
  const keys = assigned.flatMap((holder) => Object.keys(holder).filter((k) => !k.startsWith('$')));
  const missing = fields.filter(
    (field) =>
      !keys.some((key) => {
        const rel = relation(keySegments(key), field.segments);
        return rel === 'equal' || rel === 'keyIsPrefix';
      }),
  );
  if (missing.length > 0) {
    refuseTenant(
      tenantPath,
      `is written without ${missing.map((f) => `'${f.path}'`).join(', ')}: a value would stay under its old tenant's context and not decrypt under the new one; write every encrypted path with the tenant`,
    );
  }
  return tenantIdOfValue(writes[writes.length - 1]![tenantPath]);
}

/** Pipeline stages that can drop or rewrite the tenant path without naming it. */
const REWRITING = new Set(['$project', '$replaceWith', '$replaceRoot']);

/**
 * An update pipeline under a `tenantPath` must leave the tenant path alone (it writes no encrypted
 * value, so it cannot move the document's values with it): a stage setting or unsetting it, or one
 * that rewrites the whole document, is refused.
 */
export function checkPipelineTenant(tenantPath: string, pipeline: readonly unknown[]): void {
  for (const stage of pipeline) {
    if (!isObject(stage)) continue;
    for (const [op, args] of Object.entries(stage)) {
      const unsets =
        op === '$unset' &&
        (args === tenantPath || (Array.isArray(args) && args.includes(tenantPath)));
      const sets =
        (op === '$set' || op === '$addFields') && isObject(args) && Object.hasOwn(args, tenantPath);
      if (unsets || sets || REWRITING.has(op)) {
        refuseTenant(
          tenantPath,
          `cannot be written by an update pipeline (${op}); use $set with every encrypted path`,
        );
      }
    }
  }
}
