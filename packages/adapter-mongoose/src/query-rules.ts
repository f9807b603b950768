/**
 * What MongoDB cannot do on ciphertext: match, sort, compare or compute on an encrypted value.
 * Each check throws `CmekQueryError` naming the path, never the value.
 */
import { CmekQueryError } from '@cmek/core';
import { isObject } from './objects';
import { type FieldPath, keySegments, pathList, relation } from './paths';
import { holds } from './slots';

/** Throws the `CmekQueryError` of `what` (a filter, a sort, an operator...) on `field`. */
export function refuse(field: FieldPath, what: string): never {
  throw new CmekQueryError(
    field.path,
    `${what} on the encrypted path '${field.path}' cannot work: the database holds only ciphertext there`,
  );
}

/** Conditions on an encrypted value that ciphertext still answers: presence and null. */
function answerable(condition: unknown): boolean {
  if (condition === null) return true;
  if (!isObject(condition)) return false;
  const keys = Object.keys(condition);
  if (keys.length === 0 || !keys.every((k) => k.startsWith('$'))) return false;
  return keys.every(
    (k) =>
      k === '$exists' || k === '$type' || ((k === '$eq' || k === '$ne') && condition[k] === null),
  );
}

/** A condition on a container of encrypted fields (`{ settings: {...} }`, `webhooks: {...}`). */
function checkContainerCondition(
  condition: unknown,
  key: readonly string[],
  fields: readonly FieldPath[],
  field: FieldPath,
): void {
  const rest = field.segments.slice(key.length);
  if (isObject(condition) && Object.keys(condition).some((k) => k.startsWith('$'))) {
    for (const [op, arg] of Object.entries(condition)) {
      if (op === '$elemMatch' && isObject(arg)) checkFilter(arg, fields, key);
      else if (op === '$not') checkContainerCondition(arg, key, fields, field);
      else if (['$eq', '$ne', '$in', '$nin', '$all'].includes(op)) {
        const values = Array.isArray(arg) ? arg : [arg];
        if (values.some((v) => holds(v, rest, field))) refuse(field, 'a filter');
      }
    }
    return;
  }
  if (holds(condition, rest, field)) refuse(field, 'a filter');
}

/** References to encrypted paths inside an aggregation expression (`'$slackToken'`). */
function checkExpression(expression: unknown, fields: readonly FieldPath[], what: string): void {
  if (typeof expression === 'string') {
    if (!expression.startsWith('$') || expression.startsWith('$$')) return;
    const key = keySegments(expression.slice(1));
    for (const field of fields) {
      if (relation(key, field.segments) !== 'none') refuse(field, what);
    }
    return;
  }
  if (Array.isArray(expression)) {
    for (const item of expression) checkExpression(item, fields, what);
  } else if (isObject(expression)) {
    for (const value of Object.values(expression)) checkExpression(value, fields, what);
  }
}

/** Throws if the filter matches on an encrypted path. */
export function checkFilter(
  filter: unknown,
  fields: readonly FieldPath[],
  prefix: readonly string[] = [],
): void {
  if (!isObject(filter)) return;
  for (const [key, condition] of Object.entries(filter)) {
    if (key === '$and' || key === '$or' || key === '$nor') {
      if (Array.isArray(condition)) for (const sub of condition) checkFilter(sub, fields, prefix);
      continue;
    }
    if (key === '$expr') {
      checkExpression(condition, fields, 'an $expr');
      continue;
    }
    if (key.startsWith('$')) continue;
    const segments = [...prefix, ...keySegments(key)];
    for (const field of fields) {
      const rel = relation(segments, field.segments);
      if (rel === 'equal' && !answerable(condition)) refuse(field, 'a filter');
      if (rel === 'fieldIsPrefix') refuse(field, 'a filter');
      if (rel === 'keyIsPrefix') checkContainerCondition(condition, segments, fields, field);
    }
  }
}

/** The keys of a sort, in any of the forms Mongoose accepts. */
function sortKeys(sort: unknown): string[] {
  if (typeof sort === 'string')
    return sort
      .split(/\s+/)
      .filter(Boolean)
      .map((k) => k.replace(/^[-+]/, ''));
  if (sort instanceof Map) return [...sort.keys()].map(String);
  if (Array.isArray(sort)) return sort.map((pair) => String(Array.isArray(pair) ? pair[0] : pair));
  if (isObject(sort)) return Object.keys(sort);
  return [];
}

/** Throws if the sort orders by an encrypted path (ciphertext order is random). */
export function checkSort(sort: unknown, fields: readonly FieldPath[]): void {
  for (const key of sortKeys(sort)) {
    const segments = keySegments(key);
    for (const field of fields) {
      if (relation(segments, field.segments) !== 'none') refuse(field, 'a sort');
    }
  }
}

/** Throws if `key` (a `distinct` field or a `$rename` side) touches an encrypted path. */
export function checkKey(key: unknown, fields: readonly FieldPath[], what: string): void {
  if (typeof key !== 'string') return;
  const segments = keySegments(key);
  for (const field of fields) {
    if (relation(segments, field.segments) !== 'none') refuse(field, what);
  }
}

/** Throws if an aggregation pipeline matches, sorts or computes on an encrypted path. */
export function checkPipeline(pipeline: unknown, fields: readonly FieldPath[], what: string): void {
  if (!Array.isArray(pipeline)) return;
  for (const stage of pipeline) {
    if (!isObject(stage)) continue;
    for (const [name, spec] of Object.entries(stage)) {
      if (name === '$match') checkFilter(spec, fields);
      else if (name === '$sort') checkSort(spec, fields);
      else checkExpression(spec, fields, what);
    }
  }
}

/** Update pipeline stages whose written keys can be checked. */
const PIPELINE_STAGES = new Set(['$set', '$addFields', '$unset', '$project']);

/**
 * Throws if an update pipeline (also `$merge`'s `whenMatched`) reads or writes an encrypted
 * path, or has a stage whose written keys cannot be checked.
 */
export function checkUpdatePipeline(
  pipeline: readonly unknown[],
  fields: readonly FieldPath[],
  what = 'an update pipeline',
): void {
  checkPipeline(pipeline, fields, what);
  for (const stage of pipeline) {
    if (!isObject(stage)) continue;
    for (const [name, spec] of Object.entries(stage)) {
      if (!PIPELINE_STAGES.has(name)) {
        throw new CmekQueryError(
          fields[0]!.path,
          `${what} with a ${name} stage cannot be checked for encrypted paths (${pathList(fields)}); use an update document`,
        );
      }
      const keys =
        typeof spec === 'string'
          ? [spec]
          : Array.isArray(spec)
            ? spec
            : isObject(spec)
              ? Object.keys(spec)
              : [];
      for (const key of keys) checkKey(key, fields, what);
    }
  }
}
