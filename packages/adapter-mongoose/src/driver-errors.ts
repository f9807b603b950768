/**
 * Driver errors without whole tokens.
 *
 * A write that MongoDB refuses comes back as an error that quotes what was written: a duplicate
 * key on an encrypted path has the token in its message (`dup key: { slackToken: "cmek:v1:…" }`;
 * on a blind-index path, the index value, whose digest is cut the same way),
 * its `keyValue` and `errorResponse`; a bulk write error carries each failed operation (`op`,
 * the whole document with its tokens). The guarded collection methods (collection-guard.ts) pass
 * every rejection through `scrubTokens`: each token is cut to its `cmek:vN:` prefix and two
 * characters, in the error's message, stack and the strings of its fields, so logging or
 * serialising the error shows no token. The error keeps its class, `code`, `index` and the rest,
 * so `error.code === 11000` checks go on working. Nested errors and the driver's objects inside
 * the error (`WriteError`, `BulkWriteResult`) are scrubbed in place; plain objects and arrays
 * holding a token (the documents written) are replaced by scrubbed copies, so the documents the
 * caller and Mongoose hold are never changed.
 */

/** `cmek:vN:`, two characters kept, the rest of the token cut. */
const TOKEN = /(cmek:v\d+:)([A-Za-z0-9_\-|=]{2})[A-Za-z0-9_\-|=]+/g;
/** A blind-index value: its mode and key id (not secret) and two characters of the digest kept. */
const INDEX = /(cmek:bi\d+:(?:h|s\d+):[0-9a-f]{16}:)([A-Za-z0-9_-]{2})[A-Za-z0-9_-]+/g;
const MAX_DEPTH = 8;

/** Exact values to take out as well (the plaintext and token of a failed compare-and-set). */
type Values = readonly string[];

function scrubText(text: string, values: Values): string {
  let out = text;
  // values of one or two characters cannot be told from the message's own words
  for (const value of values) if (value.length >= 3) out = out.split(value).join('[value]');
  return out.includes('cmek:') ? out.replace(TOKEN, '$1$2…').replace(INDEX, '$1$2…') : out;
}

function isPlain(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as unknown;
  return Array.isArray(value) || proto === Object.prototype || proto === null;
}

/** `value` without tokens: the same value when it holds none, else a copy (errors: in place). */
function scrubbed(value: unknown, depth: number, seen: Set<object>, values: Values): unknown {
  if (typeof value === 'string') return scrubText(value, values);
  if (typeof value !== 'object' || value === null || depth > MAX_DEPTH || seen.has(value)) {
    return value;
  }
  seen.add(value);
  if (ArrayBuffer.isView(value)) return value;
  if (!isPlain(value)) {
    scrubInPlace(value, depth, seen, values);
    return value;
  }
  let copy: Record<string, unknown> | unknown[] | undefined;
  for (const [key, inner] of Object.entries(value)) {
    const next = scrubbed(inner, depth + 1, seen, values);
    if (next === inner) continue;
    copy ??= Array.isArray(value) ? [...value] : { ...(value as Record<string, unknown>) };
    (copy as Record<string, unknown>)[key] = next;
  }
  return copy ?? value;
}

/** An error, or an object of the driver's inside one (`WriteError`, `BulkWriteResult`). */
function scrubInPlace(target: object, depth: number, seen: Set<object>, values: Values): void {
  const fields = target as Record<string, unknown>;
  const keys =
    target instanceof Error ? ['message', 'stack', ...Object.keys(target)] : Object.keys(target);
  for (const key of new Set(keys)) {
    const inner = fields[key];
    const next = scrubbed(inner, depth + 1, seen, values);
    if (next === inner) continue;
    try {
      fields[key] = next;
    } catch {
      // a read-only field stays as it is
    }
  }
  if (target instanceof Error && target.cause !== undefined) {
    scrubbed(target.cause, depth + 1, seen, values);
  }
}

/**
 * Cuts every token in `error` (in place, see above), and every occurrence of `values` (three
 * characters or more), and returns it.
 */
export function scrubTokens<T>(error: T, values: Values = []): T {
  if (error instanceof Error) scrubInPlace(error, 0, new Set([error]), values);
  return error;
}
