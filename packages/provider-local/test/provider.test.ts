import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { CmekClosedError, CmekDecryptionError, CmekUnknownKekError } from '@cmek/core';
import { describe, expect, it } from 'vitest';
import { createLocalKekProviderFromKey } from '../src/index';
import { wrapDekWithNonce } from '../src/wrap';
import { assertNoSecret, rejection } from './support';

/** SPEC §5, computed here independently of the package. */
function expectedKeyRef(kek: Buffer): string {
  const digest = createHash('sha256')
    .update(Buffer.concat([Buffer.from('cmek:v1:local-kek'), kek]))
    .digest();
  return digest.subarray(0, 8).toString('hex');
}

function openWrapped(kek: Buffer, keyRef: string, wrapped: Uint8Array): Buffer {
  const bytes = Buffer.from(wrapped);
  const decipher = createDecipheriv('aes-256-gcm', kek, bytes.subarray(0, 12));
  decipher.setAAD(Buffer.from(`cmek:v1:local:${keyRef}`));
  decipher.setAuthTag(bytes.subarray(44));
  return Buffer.concat([decipher.update(bytes.subarray(12, 44)), decipher.final()]);
}

describe('the local provider', () => {
  it('derives keyRef as the first 8 bytes of SHA-256("cmek:v1:local-kek" || KEK), in hex', () => {
    const fixed = Buffer.alloc(32, 0x42);
    const provider = createLocalKekProviderFromKey(fixed);
    expect(provider.keyRef).toMatch(/^[0-9a-f]{16}$/);
    expect(provider.keyRef).toBe(expectedKeyRef(fixed));
    for (let i = 0; i < 20; i++) {
      const kek = randomBytes(32);
      expect(createLocalKekProviderFromKey(kek).keyRef).toBe(expectedKeyRef(kek));
    }
  });

  it('wraps a 32-byte DEK as nonce(12) || AES-256-GCM ciphertext(32) || tag(16) with the documented aad', async () => {
    const kek = randomBytes(32);
    const provider = createLocalKekProviderFromKey(kek);
    const { plaintext, wrapped } = await provider.generateDataKey();
    expect(plaintext.byteLength).toBe(32);
    expect(wrapped.byteLength).toBe(60);
    expect(openWrapped(kek, provider.keyRef, wrapped).equals(Buffer.from(plaintext))).toBe(true);
    // The aad binds the keyRef: another one does not open it.
    expect(() => openWrapped(kek, '0000000000000000', wrapped)).toThrow();
  });

  it('opens a DEK wrapped independently with node:crypto', async () => {
    const kek = randomBytes(32);
    const provider = createLocalKekProviderFromKey(kek);
    const dek = randomBytes(32);
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', kek, nonce);
    cipher.setAAD(Buffer.from(`cmek:v1:local:${provider.keyRef}`));
    const body = Buffer.concat([cipher.update(dek), cipher.final()]);
    const wrapped = Buffer.concat([nonce, body, cipher.getAuthTag()]);
    expect(Buffer.from(await provider.unwrap(wrapped, provider.keyRef)).equals(dek)).toBe(true);
    // The internal fixed-nonce wrap (for vectors) produces exactly these bytes.
    expect(wrapDekWithNonce(kek, provider.keyRef, dek, nonce).equals(wrapped)).toBe(true);
  });

  it('uses a fresh nonce for every DEK', async () => {
    const provider = createLocalKekProviderFromKey(randomBytes(32));
    const nonces = new Set<string>();
    for (let i = 0; i < 100; i++) {
      const { wrapped } = await provider.generateDataKey();
      nonces.add(Buffer.from(wrapped.subarray(0, 12)).toString('hex'));
    }
    expect(nonces.size).toBe(100);
  });

  it('refuses a keyRef that is not its own with CmekUnknownKekError naming it', async () => {
    const provider = createLocalKekProviderFromKey(randomBytes(32));
    const { wrapped } = await provider.generateDataKey();
    const error = await rejection(provider.unwrap(wrapped, 'abcdefabcdefabcd'));
    expect(error).toBeInstanceOf(CmekUnknownKekError);
    expect((error as CmekUnknownKekError).providerId).toBe('local');
    expect((error as CmekUnknownKekError).keyRef).toBe('abcdefabcdefabcd');
  });

  it.each([0, 1, 59, 61, 120])(
    'rejects %i wrapped bytes with CmekDecryptionError',
    async (size) => {
      const kek = randomBytes(32);
      const provider = createLocalKekProviderFromKey(kek);
      const error = await rejection(provider.unwrap(randomBytes(size), provider.keyRef));
      expect(error).toBeInstanceOf(CmekDecryptionError);
      assertNoSecret(error, kek);
    },
  );

  it('rejects a DEK wrapped under another KEK, even with a forged keyRef, without leaking', async () => {
    const kek = randomBytes(32);
    const provider = createLocalKekProviderFromKey(kek);
    const other = createLocalKekProviderFromKey(randomBytes(32));
    const { plaintext, wrapped } = await other.generateDataKey();
    const error = await rejection(provider.unwrap(wrapped, provider.keyRef));
    expect(error).toBeInstanceOf(CmekDecryptionError);
    assertNoSecret(error, kek);
    assertNoSecret(error, plaintext);
  });

  it('rejects every single-bit change of the wrapped DEK', async () => {
    const provider = createLocalKekProviderFromKey(randomBytes(32));
    const { wrapped } = await provider.generateDataKey();
    for (let i = 0; i < wrapped.length * 8; i++) {
      const tampered = Buffer.from(wrapped);
      tampered[i >> 3]! ^= 1 << (i & 7);
      await expect(provider.unwrap(tampered, provider.keyRef)).rejects.toBeInstanceOf(
        CmekDecryptionError,
      );
    }
  });

  it('rejects non-bytes input as invalid input', async () => {
    const provider = createLocalKekProviderFromKey(randomBytes(32));
    const bad = provider.unwrap('not bytes' as unknown as Uint8Array, provider.keyRef);
    expect((await rejection(bad)).code).toBe('CMEK_INVALID_INPUT');
  });

  it('copies the key it is given', async () => {
    const kek = randomBytes(32);
    const provider = createLocalKekProviderFromKey(kek);
    const { plaintext, wrapped } = await provider.generateDataKey();
    kek.fill(0);
    expect(Buffer.from(await provider.unwrap(wrapped, provider.keyRef))).toEqual(
      Buffer.from(plaintext),
    );
  });

  it.each([
    ['31 bytes', new Uint8Array(31)],
    ['33 bytes', new Uint8Array(33)],
    ['a string', 'x'.repeat(32)],
  ])('refuses a key of %s', (_name, key) => {
    expect(() => createLocalKekProviderFromKey(key as Uint8Array)).toThrow(
      expect.objectContaining({ code: 'CMEK_INVALID_INPUT' }),
    );
  });

  it('wrap puts a given DEK under the KEK in the documented layout, with a fresh nonce', async () => {
    const kek = randomBytes(32);
    const provider = createLocalKekProviderFromKey(kek);
    const dek = randomBytes(32);
    const first = await provider.wrap(dek);
    const second = await provider.wrap(dek);
    expect(first.wrapped.byteLength).toBe(60);
    expect(openWrapped(kek, provider.keyRef, first.wrapped).equals(dek)).toBe(true);
    expect(openWrapped(kek, provider.keyRef, second.wrapped).equals(dek)).toBe(true);
    expect(Buffer.from(first.wrapped).equals(Buffer.from(second.wrapped))).toBe(false);
    const error = await rejection(provider.wrap(new Uint8Array(31)));
    expect(error.code).toBe('CMEK_INVALID_INPUT');
  });

  it('close zeroes the KEK: every later call throws CmekClosedError; close again resolves', async () => {
    const kek = randomBytes(32);
    const provider = createLocalKekProviderFromKey(kek);
    const { wrapped } = await provider.generateDataKey();
    await provider.close();
    await expect(provider.generateDataKey()).rejects.toBeInstanceOf(CmekClosedError);
    await expect(provider.unwrap(wrapped, provider.keyRef)).rejects.toBeInstanceOf(CmekClosedError);
    await expect(provider.wrap(randomBytes(32))).rejects.toBeInstanceOf(CmekClosedError);
    await expect(provider.close()).resolves.toBeUndefined();
  });
});
