/**
 * The last line of defence before the CLI prints an error: removes `cmek:v1:` tokens (a short
 * prefix is kept), the bound values a database driver or knex put into its message, and any value
 * of the write that failed (recorded by `guardStores`). Core and the adapters never put a value in
 * a message; a driver may.
 */

/** Values (plaintexts and tokens) a failed store call was given, by the error it threw. */
const valuesOf = new WeakMap<object, readonly string[]>();

export function rememberValues(error: object, values: readonly string[]): void {
  valuesOf.set(error, [...(valuesOf.get(error) ?? []), ...values]);
}

/** The values remembered for `error` and its causes. */
export function valuesFor(error: unknown): string[] {
  const out: string[] = [];
  const seen = new Set<unknown>();
  for (let e = error; typeof e === 'object' && e !== null && !seen.has(e); ) {
    seen.add(e);
    out.push(...(valuesOf.get(e) ?? []));
    e = (e as { cause?: unknown }).cause;
  }
  return out;
}

/** `cmek:v1:` and the rest of a token (or of a version this release does not read). */
const TOKEN = /(cmek:v\d+:)([A-Za-z0-9_\-|=+/.]{2})[A-Za-z0-9_\-|=+/.]+/g;
/** A statement with its values interpolated, as knex prints it in front of the driver's message. */
const SQL =
  /\b(?:insert\s+into|update\s+\S+\s+set|delete\s+from|select\s[\s\S]*?\sfrom|values\s*\()/i;
/** A string literal: standard SQL (`''` escapes), optionally `E'…'` / `N'…'` with backslash escapes. */
const SQL_STRING = /(?:\b[EN])?'(?:[^'\\]|''|\\.)*'/g;
const SQL_VALUES = /\bvalues\s*\((?:[^()]|\([^()]*\))*\)(?:\s*,\s*\((?:[^()]|\([^()]*\))*\))*/gi;

/** Driver messages and details that quote a value. */
const QUOTED_VALUES: readonly [RegExp, string][] = [
  // MySQL / MariaDB: Duplicate entry 'x' for key 'users.email'; Incorrect string value: '\xF0...'
  [
    /(Duplicate entry |Incorrect \w+ value: |Truncated incorrect \w+ value: )'(?:[^'\\]|\\.)*'/gi,
    "$1'…'",
  ],
  // PostgreSQL details: Key (email)=(x) already exists; Failing row contains (1, x).
  [/(Key \([^)]*\)=)\((?:[^()]|\([^()]*\))*\)/g, '$1(…)'],
  [/(Failing row contains )\((?:[^()]|\([^()]*\))*\)/gi, '$1(…)'],
  // PostgreSQL: invalid input syntax for type integer: "x"; invalid input value for enum e: "x"
  [/(invalid input (?:syntax|value) for [^:]{1,80}: )"(?:[^"\\]|\\.)*"/gi, '$1"…"'],
  // MongoDB: E11000 duplicate key error ... dup key: { email: "x" }
  [/(dup key: )\{[^}]*\}/gi, '$1{ … }'],
  // Parameter dumps: parameters: [...], bindings: [...], params=[...]
  [/\b((?:parameters|bindings|params|values)\s*[:=]\s*)\[[^\]]*\]/gi, '$1[…]'],
  // One-per-line dumps (`- 'value'` / `- "value"`).
  [/^(\s*-\s+)(['"]).*\2\s*$/gm, '$1…'],
];

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * `text` without tokens, bound values and the given `values`. Values of one or two characters
 * are removed only where they stand alone (removing every `a` would destroy the message).
 */
export function redact(text: string, values: readonly string[] = []): string {
  let out = text;
  const known = [...new Set(values.filter((v) => v.length > 0))].sort(
    (a, b) => b.length - a.length,
  );
  for (const value of known) {
    const pattern =
      value.length >= 3
        ? new RegExp(escapeRegExp(value), 'g')
        : new RegExp(`(?<![A-Za-z0-9])${escapeRegExp(value)}(?![A-Za-z0-9])`, 'g');
    out = out.replace(pattern, '[value]');
  }
  out = out.replace(TOKEN, '$1$2…');
  if (SQL.test(out)) out = out.replace(SQL_STRING, "'…'").replace(SQL_VALUES, 'values (…)');
  for (const [pattern, replacement] of QUOTED_VALUES) out = out.replace(pattern, replacement);
  return out;
}
