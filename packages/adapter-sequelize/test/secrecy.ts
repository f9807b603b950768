/** For the error-secrecy tests: every text an error shows a log, an APM agent or a user. */

function safeJson(value: unknown): string {
  const seen = new WeakSet<object>();
  try {
    return JSON.stringify(value, (_key, v: unknown) => {
      if (typeof v === 'bigint') return v.toString();
      if (typeof v === 'object' && v !== null) {
        if (seen.has(v)) return '[circular]';
        seen.add(v);
      }
      return v;
    });
  } catch (e) {
    return `[unserialisable: ${String(e)}]`;
  }
}

/**
 * `String(error)`, the message, the stack and `JSON.stringify` of `error`, and the same for its
 * cause chain (`cause`, Sequelize's `parent` / `original`, the validation items and the errors
 * an AggregateError gathers).
 */
export function errorTexts(error: unknown): string[] {
  const out: string[] = [];
  const seen = new Set<object>();
  const visit = (e: unknown, depth: number): void => {
    if (typeof e !== 'object' || e === null || seen.has(e) || depth > 6) return;
    seen.add(e);
    const record = e as Record<string, unknown>;
    out.push(String(e), String(record.message), String(record.stack), safeJson(e));
    for (const key of ['cause', 'parent', 'original', 'errors']) {
      const inner = record[key];
      if (Array.isArray(inner)) for (const item of inner) visit(item, depth + 1);
      else visit(inner, depth + 1);
    }
  };
  visit(error, 0);
  return out;
}

/** A token, or enough of one to matter (the redaction leaves `cmek:v1:[redacted by cmek]`). */
export const TOKEN_TEXT = /cmek:v1:[A-Za-z0-9_-]{6,}/;

/** The first text of `error` holding one of `secrets` or a token, or undefined. */
export function leak(error: unknown, secrets: readonly string[]): string | undefined {
  for (const text of errorTexts(error)) {
    if (TOKEN_TEXT.test(text)) return `a token in: ${text.slice(0, 300)}`;
    for (const secret of secrets) {
      const at = text.indexOf(secret);
      if (at >= 0) return `'${secret}' in: ${text.slice(Math.max(0, at - 150), at + 150)}`;
    }
  }
  return undefined;
}

/** The error `run` rejects with, or undefined when it succeeds. */
export async function failureOf(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run();
    return undefined;
  } catch (e) {
    return e ?? new Error('rejected with nothing');
  }
}
