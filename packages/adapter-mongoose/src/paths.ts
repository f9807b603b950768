/** Encrypted paths: parsing, checking them against a schema, and relating them to query keys. */
import { CmekConfigError } from '@cmek/core';

/** One declared encrypted path, normalised (`webhooks.$.secret` → `webhooks.secret`). */
export interface FieldPath {
  /** The dotted path, without positional segments: the name used in contexts and errors. */
  readonly path: string;
  readonly segments: readonly string[];
  /** `true` when the path crosses an array (an array of subdocuments, or an array in a Mixed). */
  readonly inArray: boolean;
  /**
   * Set on a blind-index path (which the collection guard checks for `cmek:bi1:` values, not
   * tokens): the encrypted path it indexes.
   */
  readonly indexOf?: string;
}

/** A positional or index segment of a key: `0`, `$`, `$[]`, `$[elem]`. */
function isPositional(segment: string): boolean {
  return /^\d+$/.test(segment) || /^\$(\[[^\]]*\])?$/.test(segment);
}

/** An array marker of a declared path: `$` or `$[]` (`webhooks.$.secret`). */
export function isArrayMarker(segment: string): boolean {
  return /^\$(\[\])?$/.test(segment);
}

/** The paths of `fields`, for a message: `a, b.c`. */
export function pathList(fields: readonly FieldPath[]): string {
  return fields.map((f) => f.path).join(', ');
}

/** The segments of a query or update key with its positional and index segments removed. */
export function keySegments(key: string): string[] {
  return key.split('.').filter((s) => !isPositional(s));
}

export type Relation = 'equal' | 'keyIsPrefix' | 'fieldIsPrefix' | 'none';

/**
 * How a key relates to an encrypted field: the same path, a container of it (`settings` for
 * `settings.smtp.password`), a path inside it (`slackToken.x`), or unrelated.
 */
export function relation(key: readonly string[], field: readonly string[]): Relation {
  const n = Math.min(key.length, field.length);
  for (let i = 0; i < n; i++) if (key[i] !== field[i]) return 'none';
  if (key.length === field.length) return 'equal';
  return key.length < field.length ? 'keyIsPrefix' : 'fieldIsPrefix';
}

/** The minimal view of a Mongoose schema this module reads. */
export interface SchemaView {
  path(path: string): SchemaTypeView | undefined;
  pathType(path: string): string;
}

export interface SchemaTypeView {
  readonly instance?: string;
  readonly path?: string;
  /** Adds a setter (Mongoose runs the last one added first, before the cast). */
  set?(fn: (this: unknown, value: unknown) => unknown): unknown;
  cast?(value: unknown): unknown;
  readonly schema?: SchemaView;
  readonly $isMongooseDocumentArray?: boolean;
  readonly $isSingleNested?: boolean;
  readonly $isMongooseArray?: boolean;
}

/** A declared path resolved in its schema. */
export interface Resolved {
  /** `true` when the path crosses an array of subdocuments. */
  readonly inArray: boolean;
  /** The `String` schema type the path ends at; `undefined` for a path inside a `Mixed`. */
  readonly leaf: SchemaTypeView | undefined;
}

/**
 * Checks a declared path against the schema: it must end at a `String` path, or lie inside a
 * `Mixed` path, possibly through nested objects, single subdocuments and arrays of subdocuments.
 */
export function resolvePath(
  schema: SchemaView,
  segments: readonly string[],
  declared: string,
): Resolved {
  let inArray = false;
  let current = schema;
  let start = 0;
  for (let end = 1; end <= segments.length; end++) {
    const sub = segments.slice(start, end).join('.');
    const type = current.path(sub);
    if (type === undefined) {
      if (current.pathType(sub) === 'nested' && end < segments.length) continue;
      throw new CmekConfigError(
        `cmekPlugin: '${declared}' is not a path of the schema (declare the path before applying the plugin)`,
      );
    }
    const last = end === segments.length;
    // inside a Mixed value the shape is unknown: arrays are found (and handled) at run time
    if (type.instance === 'Mixed') return { inArray, leaf: undefined };
    if (type.$isMongooseDocumentArray === true && type.schema !== undefined) {
      if (last) break;
      inArray = true;
      current = type.schema;
      start = end;
      continue;
    }
    if (type.$isSingleNested === true && type.schema !== undefined) {
      if (last) break;
      current = type.schema;
      start = end;
      continue;
    }
    if (last && type.instance === 'String') return { inArray, leaf: type };
    break;
  }
  throw new CmekConfigError(
    `cmekPlugin: '${declared}' must be a String path (or lie inside a Mixed path); arrays of strings, numbers, subdocuments and other types cannot be encrypted`,
  );
}

/** Parses and checks the declared paths. */
export function parseFields(schema: SchemaView, fields: unknown): FieldPath[] {
  if (!Array.isArray(fields) || fields.length === 0) {
    throw new CmekConfigError('cmekPlugin needs `fields`: a non-empty array of schema paths');
  }
  const out: FieldPath[] = [];
  for (const declared of fields) {
    if (typeof declared !== 'string' || declared.length === 0) {
      throw new CmekConfigError('cmekPlugin: every entry of `fields` must be a non-empty string');
    }
    const raw = declared.split('.');
    const segments = raw.filter((s) => !isArrayMarker(s));
    if (segments.some((s) => s.length === 0 || s.startsWith('$') || /^\d+$/.test(s))) {
      throw new CmekConfigError(
        `cmekPlugin: '${declared}' is not a valid path (use dotted names; '$' may mark an array)`,
      );
    }
    const path = segments.join('.');
    if (out.some((f) => relation(f.segments, segments) !== 'none')) {
      throw new CmekConfigError(
        `cmekPlugin: '${declared}' is declared twice or overlaps another declared path`,
      );
    }
    const inArray =
      resolvePath(schema, segments, declared).inArray || raw.length !== segments.length;
    out.push({ path, segments, inArray });
  }
  return out;
}
