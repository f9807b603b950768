import { randomBytes } from 'node:crypto';
import {
  CmekConfigError,
  CmekDecryptionError,
  CmekKekUnavailableError,
  CmekProviderError,
  CmekUnknownKekError,
  createEnvelope,
} from '@cmek/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryKekProvider, providerConformanceSuite } from '../src/index';

const kekA = randomBytes(32);
const kekB = randomBytes(32);

// The shipped provider passes the suite it ships with: every optional method on...
providerConformanceSuite(
  { describe, it, beforeAll, afterAll },
  {
    create: async () => memoryKekProvider({ kek: kekA, features: { rewrap: true } }),
    createOther: async () => memoryKekProvider({ kek: kekB, features: { rewrap: true } }),
  },
  {
    name: 'memoryKekProvider conformance (every feature)',
    features: memoryKekProvider({ features: { rewrap: true } }).features,
  },
);

// ...and every optional method off, with a configured providerId and keyRefs.
providerConformanceSuite(
  { describe, it },
  {
    create: async () =>
      memoryKekProvider({
        kek: kekA,
        providerId: 'test-kms',
        keyRef: 'alias/a',
        features: { unwrapMany: false, wrap: false },
      }),
    createOther: async () =>
      memoryKekProvider({
        kek: kekB,
        providerId: 'test-kms',
        keyRef: 'alias/b',
        features: { unwrapMany: false, wrap: false },
      }),
  },
  { name: 'memoryKekProvider conformance (no optional method)', features: {} },
);

describe('memoryKekProvider', () => {
  it('defaults: providerId memory, a keyRef derived from the KEK, unwrapMany and wrap on, rewrap off', () => {
    const a = memoryKekProvider({ kek: kekA });
    const again = memoryKekProvider({ kek: kekA });
    const random = memoryKekProvider();
    expect(a.providerId).toBe('memory');
    expect(a.keyRef).toMatch(/^mem-[0-9a-f]{16}$/);
    expect(again.keyRef).toBe(a.keyRef);
    expect(random.keyRef).not.toBe(a.keyRef);
    expect(a.features).toEqual({ unwrapMany: true, rewrap: false, wrap: true, close: true });
    expect(typeof a.unwrapMany).toBe('function');
    expect(typeof a.wrap).toBe('function');
    expect(a.rewrap).toBeUndefined();
  });

  it('a random KEK is not shared: another default instance cannot open its DEKs', async () => {
    const a = memoryKekProvider({ keyRef: 'same' });
    const b = memoryKekProvider({ keyRef: 'same' });
    const { wrapped } = await a.generateDataKey();
    await expect(b.unwrap(wrapped, 'same')).rejects.toBeInstanceOf(CmekDecryptionError);
  });

  it('binds the keyRef: one KEK under two keyRefs does not open the other one', async () => {
    const a = memoryKekProvider({ kek: kekA, keyRef: 'one' });
    const b = memoryKekProvider({ kek: kekA, keyRef: 'two' });
    const { wrapped } = await a.generateDataKey();
    await expect(b.unwrap(wrapped, 'two')).rejects.toBeInstanceOf(CmekDecryptionError);
    const error = await b.unwrap(wrapped, 'one').catch((e: unknown) => e);
    expect(CmekUnknownKekError.isInstance(error)).toBe(true);
    expect((error as CmekUnknownKekError).keyRef).toBe('one');
  });

  it('counts its calls, failed ones included, and resets them', async () => {
    const kek = memoryKekProvider({ features: { rewrap: true } });
    const { wrapped } = await kek.generateDataKey();
    await kek.unwrap(wrapped, kek.keyRef);
    await kek.unwrap(wrapped, 'other').catch(() => undefined);
    await kek.unwrapMany?.([
      { wrapped, keyRef: kek.keyRef },
      { wrapped, keyRef: kek.keyRef },
    ]);
    await kek.rewrap?.(wrapped, kek.keyRef);
    await kek.wrap?.(randomBytes(32));
    expect(kek.calls).toEqual({
      generateDataKey: 1,
      unwrap: 2,
      unwrapMany: 1,
      rewrap: 1,
      wrap: 1,
      close: 0,
    });
    kek.resetCalls();
    expect(Object.values(kek.calls)).toEqual([0, 0, 0, 0, 0, 0]);
    await kek.close();
    expect(kek.calls.close).toBe(1);
  });

  it('failWith: every call rejects with the error until it is cleared', async () => {
    const kek = memoryKekProvider();
    const { wrapped } = await kek.generateDataKey();
    const outage = new CmekKekUnavailableError('the KMS is down');
    kek.failWith = outage;
    await expect(kek.generateDataKey()).rejects.toBe(outage);
    await expect(kek.unwrap(wrapped, kek.keyRef)).rejects.toBe(outage);
    await expect(kek.unwrapMany?.([{ wrapped, keyRef: kek.keyRef }])).rejects.toBe(outage);
    await expect(kek.wrap?.(randomBytes(32))).rejects.toBe(outage);
    expect(kek.calls.unwrap).toBe(1);
    kek.failWith = undefined;
    expect((await kek.unwrap(wrapped, kek.keyRef)).byteLength).toBe(32);
  });

  it('failWith through an envelope: a plain Error becomes CmekProviderError', async () => {
    const kek = memoryKekProvider();
    const envelope = createEnvelope({ kek, dekCache: false });
    kek.failWith = new Error('boom');
    await expect(envelope.encrypt('x')).rejects.toBeInstanceOf(CmekProviderError);
    kek.failWith = undefined;
    expect(await envelope.decrypt(await envelope.encrypt('x'))).toBe('x');
  });

  it('delayMs: calls wait that long', async () => {
    const kek = memoryKekProvider();
    kek.delayMs = 60;
    const started = performance.now();
    await kek.generateDataKey();
    expect(performance.now() - started).toBeGreaterThanOrEqual(55);
    kek.delayMs = 0;
    const quick = performance.now();
    await kek.generateDataKey();
    expect(performance.now() - quick).toBeLessThan(55);
  });

  it('close during a delayed call: the call rejects as closed', async () => {
    const kek = memoryKekProvider();
    kek.delayMs = 30;
    const pending = kek.generateDataKey();
    await kek.close();
    await expect(pending).rejects.toMatchObject({ code: 'CMEK_CLOSED' });
  });

  it('unwrapMany is all or nothing', async () => {
    const kek = memoryKekProvider();
    const good = await kek.generateDataKey();
    await expect(
      kek.unwrapMany?.([
        { wrapped: good.wrapped, keyRef: kek.keyRef },
        { wrapped: good.wrapped, keyRef: 'elsewhere' },
      ]),
    ).rejects.toBeInstanceOf(CmekUnknownKekError);
  });

  it('an envelope over it encrypts and decrypts', async () => {
    const kek = memoryKekProvider({ providerId: 'unit', keyRef: 'k1' });
    const envelope = createEnvelope({ kek });
    const token = await envelope.encrypt('hello', { context: { field: 'f' } });
    expect(envelope.inspect(token)).toMatchObject({ providerId: 'unit', keyRef: 'k1' });
    expect(await envelope.decrypt(token, { context: { field: 'f' } })).toBe('hello');
  });

  it('refuses a bad providerId, keyRef or KEK', () => {
    expect(() => memoryKekProvider({ providerId: 'Not OK' })).toThrow(CmekConfigError);
    expect(() => memoryKekProvider({ keyRef: '' })).toThrow(CmekConfigError);
    expect(() => memoryKekProvider({ keyRef: 'x'.repeat(1025) })).toThrow(CmekConfigError);
    expect(() => memoryKekProvider({ kek: new Uint8Array(16) })).toThrow(CmekConfigError);
  });

  it('copies the KEK it is given: closing one instance leaves another over the same bytes working', async () => {
    const key = randomBytes(32);
    const a = memoryKekProvider({ kek: key });
    const b = memoryKekProvider({ kek: key });
    const { plaintext, wrapped } = await a.generateDataKey();
    const dek = Buffer.from(plaintext);
    await a.close();
    expect(key.equals(Buffer.alloc(32))).toBe(false);
    expect(Buffer.from(await b.unwrap(wrapped, b.keyRef)).equals(dek)).toBe(true);
  });
});
