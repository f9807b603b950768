/** Every text an error can reach a log through, to scan for values that must not be there. */
import { inspect } from 'node:util';
import { expect } from 'vitest';

/** message, String(), stack, JSON of the enumerable fields and util.inspect, down the cause chain. */
export function errorTexts(error: unknown): string[] {
  const texts: string[] = [inspect(error, { depth: 6 })];
  let current: unknown = error;
  for (let depth = 0; depth < 6 && current !== undefined && current !== null; depth++) {
    texts.push(String(current));
    if (typeof current === 'object') {
      const record = current as { message?: unknown; stack?: unknown; cause?: unknown };
      texts.push(String(record.message), String(record.stack));
      try {
        texts.push(JSON.stringify(current));
      } catch {
        // a circular field: inspect above still shows it
      }
      current = record.cause;
    } else break;
  }
  return texts;
}

/** Asserts no text of `error` (its cause chain included) holds a marker or a cmek token. */
export function expectNoSecret(error: unknown, markers: readonly string[]): void {
  expect(error).toBeDefined();
  for (const text of errorTexts(error)) {
    for (const marker of markers) expect(text).not.toContain(marker);
    expect(text).not.toMatch(/cmek:v\d+:/);
  }
}

/** The error a promise rejects with (fails the test when it resolves). */
export async function rejection(promise: PromiseLike<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  expect.fail('the write was expected to fail');
}
