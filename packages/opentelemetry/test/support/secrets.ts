/**
 * What must never reach telemetry, gathered from real runs: the plaintexts written, every token
 * and each of its parts, every DEK a provider returned (captured before core zeroes it, in the
 * encodings a careless attribute could use), credentials.
 */
import type { KekProvider } from '@cmek/core';
import { expect } from 'vitest';

export class Secrets {
  private readonly list = new Set<string>();

  add(...secrets: string[]): void {
    for (const s of secrets) if (s.length >= 8) this.list.add(s);
  }

  token(token: string): void {
    this.add(token, ...token.slice('cmek:v1:'.length).split('|'));
  }

  bytes(bytes: Uint8Array): void {
    const b = Buffer.from(bytes);
    this.add(
      b.toString('hex'),
      b.toString('base64'),
      b.toString('base64url'),
      b.toString('latin1'),
    );
  }

  /** The provider, with every DEK it hands out recorded (core zeroes the provider's copy). */
  capture<P extends KekProvider>(provider: P): P {
    const secrets = this;
    return new Proxy(provider, {
      get(target, key, receiver) {
        const value = Reflect.get(target, key, receiver);
        if (key === 'generateDataKey') {
          return async () => {
            const out = await target.generateDataKey();
            secrets.bytes(out.plaintext);
            return out;
          };
        }
        if (key === 'unwrap') {
          return async (wrapped: Uint8Array, keyRef: string) => {
            const dek = await target.unwrap(wrapped, keyRef);
            secrets.bytes(dek);
            return dek;
          };
        }
        if (key === 'unwrapMany' && typeof value === 'function') {
          return async (items: { wrapped: Uint8Array; keyRef: string }[]) => {
            const deks = (await value.call(target, items)) as Uint8Array[];
            for (const dek of deks) secrets.bytes(dek);
            return deks;
          };
        }
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }

  get size(): number {
    return this.list.size;
  }

  /** Asserts that no exported string contains any secret (and that both lists are real). */
  expectNoneIn(exported: readonly string[], minimumDeks = 1): void {
    expect(exported.length).toBeGreaterThan(10);
    expect(this.list.size).toBeGreaterThanOrEqual(4 * minimumDeks);
    const leaks: string[] = [];
    for (const text of exported) {
      for (const secret of this.list) {
        if (text.includes(secret)) leaks.push(`${secret.slice(0, 6)}... in an attribute`);
      }
    }
    expect(leaks).toEqual([]);
  }
}
