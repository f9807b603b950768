/**
 * Keeping secrets out of the errors Sequelize and the drivers raise for a write: a
 * `ValidationErrorItem` keeps the value validated (`value`, the instance, the validator's own
 * error), a `UniqueConstraintError` the duplicate values (`fields`), a `DatabaseError` the SQL
 * and its bound values (`sql`, `parameters`), and the driver's message often quotes a value
 * (`Duplicate entry 'cmek:v1:…'`, `Key (slack_token)=(…) already exists`). `redactError` edits
 * such an error in place, so the class and the fields applications inspect stay as they were.
 */
import { ValidationErrorItem } from 'sequelize';
import { isInstance } from './values';

/** What replaces a redacted value. */
export const REDACTED = '[redacted by cmek]';

/** A token, whole or cut short (MariaDB quotes the first 64 characters of a duplicate value). */
const TOKEN_TEXT = /cmek:v1:[A-Za-z0-9_=|-]*/g;
/** A blind-index value, whole or cut short (a duplicate on a unique index column quotes it). */
const INDEX_TEXT = /cmek:bi1:[A-Za-z0-9_:-]*/g;
/** The bound values the mariadb connector appends to its messages and `sql`. */
const MARIADB_PARAMETERS = / - parameters:\[[\s\S]*$/;

/** The forms a plaintext can take in an error: as it is, and escaped into SQL text. */
function forms(secrets: Iterable<string>): string[] {
  const out = new Set<string>();
  for (const secret of secrets) {
    if (typeof secret !== 'string' || secret === '') continue;
    out.add(secret);
    out.add(secret.replaceAll("'", "''"));
    out.add(secret.replaceAll('\\', '\\\\').replaceAll("'", "\\'"));
    out.add(JSON.stringify(secret).slice(1, -1));
  }
  // Longest first, so that a secret containing another is replaced whole.
  return [...out].sort((a, b) => b.length - a.length);
}

function scrub(text: string, secrets: readonly string[]): string {
  let out = text.replace(MARIADB_PARAMETERS, ` - parameters:[${REDACTED}]`);
  out = out.replace(TOKEN_TEXT, `cmek:v1:${REDACTED}`);
  out = out.replace(INDEX_TEXT, `cmek:bi1:${REDACTED}`);
  for (const secret of secrets) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  return out;
}

/** The objects of an error worth walking: errors, validation items, arrays and plain records. */
function walkable(value: unknown): value is object {
  if (typeof value !== 'object' || value === null) return false;
  if (value instanceof Error || value instanceof ValidationErrorItem || Array.isArray(value))
    return true;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

interface Walk {
  readonly secrets: readonly string[];
  /** Attribute and column names of encrypted fields: a value under one is replaced whole. */
  readonly names: ReadonlySet<string>;
  readonly seen: Set<object>;
}

function redactObject(target: object, walk: Walk, depth: number): void {
  if (depth > 6 || walk.seen.has(target)) return;
  walk.seen.add(target);
  const record = target as Record<string, unknown>;
  // A validation item on an encrypted field: its value is the secret itself (or its bytes).
  const path = target instanceof ValidationErrorItem ? record.path : undefined;
  const onEncrypted = typeof path === 'string' && walk.names.has(path);
  for (const key of Object.getOwnPropertyNames(target)) {
    if (key === 'validatorArgs') continue; // the model definition's, not the value's
    const descriptor = Object.getOwnPropertyDescriptor(target, key);
    if (!descriptor) continue;
    // V8 gives errors an own `stack` accessor: read it, and store the scrubbed text instead.
    const accessor = !('value' in descriptor);
    if (accessor && (key !== 'stack' || !descriptor.configurable)) continue;
    const value: unknown = accessor ? record[key] : descriptor.value;
    const set = (next: unknown, enumerable = descriptor.enumerable === true): void => {
      if (descriptor.configurable) {
        Object.defineProperty(target, key, {
          value: next,
          enumerable,
          writable: accessor || descriptor.writable === true,
          configurable: true,
        });
      } else if (descriptor.writable) record[key] = next;
    };
    if (isInstance(value)) {
      // `item.instance`, `BulkRecordError.record`: the application's instance, with the
      // plaintext of every field. It stays reachable, but out of JSON.stringify.
      if (descriptor.enumerable) set(value, false);
      continue;
    }
    const secretValue =
      value !== null &&
      value !== undefined &&
      ((onEncrypted && (key === 'value' || key === 'original')) ||
        (!Array.isArray(target) && !(target instanceof Error) && walk.names.has(key)));
    if (secretValue && !(value instanceof Error)) {
      set(REDACTED);
      continue;
    }
    if (typeof value === 'string') {
      const clean = scrub(value, walk.secrets);
      if (clean !== value) set(clean);
    } else if (value instanceof Uint8Array) {
      if (onEncrypted || walk.names.has(key)) set(REDACTED);
    } else if (walkable(value)) {
      redactObject(value, walk, depth + 1);
    }
  }
}

/**
 * Removes from `error` (its message, stack, SQL, bound values, validation items, and the same in
 * its `parent` / `original` / `cause` chain) every token, every string of `secrets` (the
 * plaintexts of the write), and every value held under an encrypted field's name; an instance it
 * holds becomes non-enumerable. Returns `error`, edited in place.
 */
export function redactError(
  error: unknown,
  secrets: Iterable<string>,
  names: Iterable<string>,
): unknown {
  if (!walkable(error)) return error;
  redactObject(error, { secrets: forms(secrets), names: new Set(names), seen: new Set() }, 0);
  return error;
}
