/**
 * Driver errors without the statement's bound values.
 *
 * Knex prefixes a driver error's message with the statement, its bound values written in
 * (`insert into … values ('cmek:v1:…', 'alice') - UNIQUE constraint failed: …`), and drivers put
 * values in their own messages and fields too (MySQL's `Duplicate entry 'alice'`, `sql`; pg's
 * `detail`: `Failing row contains (…)`). A bound value of an encrypted table's write is a token,
 * and in the row store's compare-and-set the old plaintext. These functions scrub every string
 * of the error (message, stack, own string fields) of the statement's bound values, in place,
 * keeping the error's class, `code`, `errno`, `constraint` and the rest.
 */
import { CmekError } from '@cmek/core';

interface CompiledStatement {
  readonly sql: string;
  readonly bindings?: readonly unknown[];
  toNative?(): { sql: string; bindings?: readonly unknown[] };
}

/** The part of a Knex builder this needs: its compiled statements and its client. */
export interface CompilableBuilder {
  toSQL(): unknown;
  readonly client?: unknown;
}

interface EscapingClient {
  _escapeBinding?(value: unknown, options?: unknown): unknown;
}

const REDACTED = '?';
const TOKEN = /cmek:v\d+:[^\s'"`,;)]*/g;
const QUOTED = /'([^']*)'|"([^"]*)"|`([^`]*)`/g;
/** A bound string shorter than this is replaced only where it stands quoted. */
const SHORT = 3;
/** A quoted fragment this long or longer is replaced when it is part of a bound value (truncated). */
const FRAGMENT = 4;
/** Error fields that name, never hold, values. */
const KEPT = new Set(['name', 'code', 'errno', 'sqlState', 'severity', 'routine', 'file']);

function statementsOf(builder: CompilableBuilder): CompiledStatement[] {
  try {
    const compiled = builder.toSQL() as CompiledStatement | CompiledStatement[];
    return (Array.isArray(compiled) ? compiled : [compiled]).filter(
      (s) => s !== null && typeof s === 'object' && typeof s.sql === 'string',
    );
  } catch {
    return [];
  }
}

/** `formatQuery` of Knex's query executioner: the statement as Knex writes it into the message. */
function formatted(client: EscapingClient | undefined, sql: string, bindings: readonly unknown[]) {
  const escapeBinding = client?._escapeBinding;
  if (typeof escapeBinding !== 'function') return undefined;
  let index = 0;
  try {
    return sql.replace(/\\?\?/g, (match) => {
      if (match === '\\?') return '?';
      if (index === bindings.length) return match;
      return String(escapeBinding.call(client, bindings[index++], {}));
    });
  } catch {
    return undefined;
  }
}

function textOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  return undefined;
}

/** What to take out of an error's strings: statements as Knex formats them, and bound strings. */
export interface Secrets {
  /** [formatted statement, its placeholder form] */
  readonly statements: readonly (readonly [string, string])[];
  /** Bound strings, and their escaped spellings, longest first. */
  readonly values: readonly string[];
}

export function secretsOf(builder: CompilableBuilder, extra: readonly unknown[] = []): Secrets {
  const client = builder.client as EscapingClient | undefined;
  const statements: [string, string][] = [];
  const values = new Set<string>();
  const addValue = (value: unknown) => {
    const text = textOf(value);
    if (text === undefined || text.length === 0) return;
    values.add(text);
    const escaped = textOf(formatted(client, '?', [text]));
    if (escaped !== undefined) values.add(escaped.replace(/^[A-Za-z]?'|'$/g, ''));
  };
  for (const statement of statementsOf(builder)) {
    const bindings = statement.bindings ?? [];
    for (const b of bindings) addValue(b);
    const native = statement.toNative?.();
    for (const [sql, bound] of [
      [statement.sql, bindings],
      ...(native ? [[native.sql, native.bindings ?? []] as const] : []),
    ] as const) {
      const text = formatted(client, sql, bound);
      if (text !== undefined && text !== statement.sql) statements.push([text, statement.sql]);
      if (sql !== statement.sql) statements.push([sql, statement.sql]);
    }
  }
  for (const value of extra) addValue(value);
  return {
    statements: statements.sort((a, b) => b[0].length - a[0].length),
    values: [...values].sort((a, b) => b.length - a.length),
  };
}

/**
 * Whether a quoted fragment is (part of) a bound value; MySQL writes a long value cut at 64
 * characters with `...` after it (`Duplicate entry 'cmek:bi1:h:…...'`).
 */
function boundIn(content: string, values: readonly string[]): boolean {
  const cut = content.endsWith('...') ? content.slice(0, -3) : content;
  return values.some(
    (v) =>
      v === content ||
      (content.length >= FRAGMENT && v.includes(content)) ||
      (cut.length >= FRAGMENT && v.startsWith(cut)),
  );
}

/** `text` without the statement's bound values. */
export function scrub(text: string, secrets: Secrets): string {
  let out = text;
  for (const [statement, placeholders] of secrets.statements) {
    out = out.split(statement).join(placeholders);
  }
  for (const value of secrets.values) {
    if (value.length >= SHORT) out = out.split(value).join(REDACTED);
  }
  out = out.replace(QUOTED, (match, ...groups: (string | undefined)[]) => {
    const content = groups.slice(0, 3).find((g) => g !== undefined) ?? '';
    return content.length > 0 && boundIn(content, secrets.values)
      ? `${match[0]}${REDACTED}${match[0]}`
      : match;
  });
  return out.replace(TOKEN, '[cmek token]');
}

/**
 * Scrubs a driver error in place (message, stack, and its own string fields but those that
 * name things: `code`, `errno`, …) and returns it. A cmek error, or a value that is not an
 * object, is returned as it is.
 */
export function redactInPlace<E>(error: E, secrets: Secrets, depth = 3): E {
  if (typeof error !== 'object' || error === null || CmekError.isInstance(error)) return error;
  const record = error as Record<string, unknown>;
  for (const key of Object.getOwnPropertyNames(error)) {
    if (KEPT.has(key)) continue;
    const value = record[key];
    if (typeof value !== 'string') continue;
    const clean = scrub(value, secrets);
    if (clean === value) continue;
    try {
      record[key] = clean;
    } catch {
      Object.defineProperty(error, key, { value: clean, configurable: true, writable: true });
    }
  }
  // `stack` is often an accessor on the prototype chain, formatted with the original message
  if (!Object.getOwnPropertyNames(error).includes('stack') && typeof record.stack === 'string') {
    Object.defineProperty(error, 'stack', {
      value: scrub(record.stack, secrets),
      configurable: true,
      writable: true,
      enumerable: false,
    });
  }
  if (depth > 0 && record.cause !== error) redactInPlace(record.cause, secrets, depth - 1);
  return error;
}
