/** Checks that a secret appears in no printable form of an error. */
import assert from 'node:assert/strict';
import { inspect } from 'node:util';

function forms(secret: Uint8Array): string[] {
  const bytes = Buffer.from(secret.buffer, secret.byteOffset, secret.byteLength);
  return [
    bytes.toString('hex'),
    bytes.toString('base64').replace(/=+$/, ''),
    bytes.toString('base64url'),
  ];
}

/** `message`, `String(error)` and `util.inspect(error)` (with causes) hold none of the secrets. */
export function assertNoSecretIn(
  error: unknown,
  secrets: readonly Uint8Array[],
  what: string,
): void {
  const e = error as Error;
  const texts = [String(e?.message), String(e), inspect(e, { depth: 6 })];
  for (const secret of secrets) {
    if (secret.byteLength === 0) continue;
    for (const form of forms(secret)) {
      for (const text of texts) {
        assert.ok(!text.includes(form), `${what}: the error text contains a DEK or key`);
      }
    }
  }
}

/** A description of an unexpected result that never prints its bytes. */
export function describeResult(value: unknown): string {
  if (value instanceof Uint8Array) return `${value.byteLength} bytes`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return typeof value;
}
