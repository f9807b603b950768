/** Unit tests: the requests the provider sends, with an injected fake client (no network). */
import { KMSClient } from '@aws-sdk/client-kms';
import {
  CmekClosedError,
  CmekInvalidInputError,
  CmekProviderError,
  CmekUnknownKekError,
  createEnvelope,
  type KekCallEvent,
} from '@cmek/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createAwsKmsKekProvider } from '../src/index';
import { behaveLikeKms, FakeKms } from './support/fake-kms';

const KEY = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const OTHER = 'arn:aws:kms:us-east-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321';
const CONTEXT = { app: 'billing', purpose: 'field-dek' };

function setup(extra: { grantTokens?: string[]; encryptionContext?: Record<string, string> } = {}) {
  const fake = new FakeKms();
  const provider = createAwsKmsKekProvider({
    keyId: KEY,
    client: fake.asClient(),
    encryptionContext: CONTEXT,
    ...extra,
  });
  return { fake, provider };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('generateDataKey', () => {
  it('asks KMS for an AES_256 data key under the configured key and context', async () => {
    const { fake, provider } = setup({ grantTokens: ['grant-a'] });
    const dek = new Uint8Array(32).fill(7);
    const blob = new Uint8Array([1, 2, 3, 4]);
    fake.handler = () => ({ Plaintext: dek, CiphertextBlob: blob, KeyId: KEY });

    const result = await provider.generateDataKey();

    expect(fake.calls).toHaveLength(1);
    expect(fake.calls[0]!.name).toBe('GenerateDataKey');
    expect(fake.calls[0]!.input).toEqual({
      KeyId: KEY,
      KeySpec: 'AES_256',
      EncryptionContext: { app: 'billing', purpose: 'field-dek' },
      GrantTokens: ['grant-a'],
    });
    expect(Buffer.from(result.plaintext).equals(Buffer.alloc(32, 7))).toBe(true);
    expect([...result.wrapped]).toEqual([1, 2, 3, 4]);
  });

  it('sends no EncryptionContext or GrantTokens when none are configured', async () => {
    const fake = new FakeKms();
    const provider = createAwsKmsKekProvider({ keyId: KEY, client: fake.asClient() });
    fake.handler = () => ({ Plaintext: new Uint8Array(32), CiphertextBlob: new Uint8Array([9]) });
    await provider.generateDataKey();
    expect(fake.calls[0]!.input.EncryptionContext).toBeUndefined();
    expect(fake.calls[0]!.input.GrantTokens).toBeUndefined();
    expect(fake.calls[0]!.input.KeyId).toBe(KEY);
  });

  it('does not let a caller mutate the context it passed after creation', async () => {
    const context: Record<string, string> = { app: 'billing' };
    const fake = new FakeKms();
    const provider = createAwsKmsKekProvider({
      keyId: KEY,
      client: fake.asClient(),
      encryptionContext: context,
    });
    context.app = 'changed';
    fake.handler = () => ({ Plaintext: new Uint8Array(32), CiphertextBlob: new Uint8Array([9]) });
    await provider.generateDataKey();
    expect(fake.calls[0]!.input.EncryptionContext).toEqual({ app: 'billing' });
  });

  it('zeroes the plaintext and fails when KMS answers without a CiphertextBlob', async () => {
    const { fake, provider } = setup();
    const dek = new Uint8Array(32).fill(5);
    fake.handler = () => ({ Plaintext: dek });
    await expect(provider.generateDataKey()).rejects.toSatisfy((e: unknown) =>
      CmekProviderError.isInstance(e),
    );
    expect(dek.every((b) => b === 0)).toBe(true);
  });
});

describe('unwrap', () => {
  it('decrypts with the configured KeyId and the same context, never the blob alone', async () => {
    const { fake, provider } = setup({ grantTokens: ['grant-a', 'grant-b'] });
    const blob = new Uint8Array([10, 20, 30]);
    fake.handler = () => ({ Plaintext: new Uint8Array(32).fill(3), KeyId: KEY });

    const dek = await provider.unwrap(blob, KEY);

    expect(fake.calls).toHaveLength(1);
    expect(fake.calls[0]!.name).toBe('Decrypt');
    expect(fake.calls[0]!.input).toEqual({
      CiphertextBlob: blob,
      KeyId: KEY,
      EncryptionContext: CONTEXT,
      GrantTokens: ['grant-a', 'grant-b'],
    });
    expect(Buffer.from(dek).equals(Buffer.alloc(32, 3))).toBe(true);
  });

  it('refuses a keyRef other than its own without calling KMS', async () => {
    const { fake, provider } = setup();
    const error = await provider.unwrap(new Uint8Array([1]), OTHER).catch((e: unknown) => e);
    expect(CmekUnknownKekError.isInstance(error)).toBe(true);
    expect((error as CmekUnknownKekError).keyRef).toBe(OTHER);
    expect((error as CmekUnknownKekError).providerId).toBe('aws-kms');
    expect(fake.calls).toHaveLength(0);
  });

  it('rejects empty wrapped bytes without calling KMS', async () => {
    const { fake, provider } = setup();
    await expect(provider.unwrap(new Uint8Array(0), KEY)).rejects.toSatisfy((e: unknown) =>
      CmekInvalidInputError.isInstance(e),
    );
    expect(fake.calls).toHaveLength(0);
  });

  it('fails when KMS answers without a Plaintext', async () => {
    const { fake, provider } = setup();
    fake.handler = () => ({ KeyId: KEY });
    await expect(provider.unwrap(new Uint8Array([1]), KEY)).rejects.toSatisfy((e: unknown) =>
      CmekProviderError.isInstance(e),
    );
  });
});

describe('rewrap', () => {
  it('re-encrypts from the source key to its own key under the same context on both sides', async () => {
    const { fake, provider } = setup({ grantTokens: ['grant-a'] });
    const blob = new Uint8Array([4, 4, 4]);
    // KMS answers with the destination key's ARN; the provider must return its own keyRef.
    fake.handler = () => ({ CiphertextBlob: new Uint8Array([8, 8]), KeyId: 'arn:resolved' });

    const moved = await provider.rewrap(blob, OTHER);

    expect(fake.calls).toHaveLength(1);
    expect(fake.calls[0]!.name).toBe('ReEncrypt');
    expect(fake.calls[0]!.input).toEqual({
      CiphertextBlob: blob,
      SourceKeyId: OTHER,
      SourceEncryptionContext: CONTEXT,
      DestinationKeyId: KEY,
      DestinationEncryptionContext: CONTEXT,
      GrantTokens: ['grant-a'],
    });
    expect(moved.keyRef).toBe(KEY);
    expect([...moved.wrapped]).toEqual([8, 8]);
  });
});

describe('wrap', () => {
  it('encrypts the given DEK under its key and context, then zeroes its copy', async () => {
    const { fake, provider } = setup();
    const dek = new Uint8Array(32).fill(9);
    let sentPlaintext: number[] = [];
    fake.handler = ({ input }) => {
      sentPlaintext = [...(input.Plaintext as Uint8Array)];
      return { CiphertextBlob: new Uint8Array([6, 6]), KeyId: KEY };
    };

    const result = await provider.wrap(dek);

    expect(fake.calls[0]!.name).toBe('Encrypt');
    expect(fake.calls[0]!.input.KeyId).toBe(KEY);
    expect(fake.calls[0]!.input.EncryptionContext).toEqual(CONTEXT);
    expect(sentPlaintext).toEqual(Array(32).fill(9));
    expect([...result.wrapped]).toEqual([6, 6]);
    expect(dek.every((b) => b === 0)).toBe(true);
  });
});

describe('close', () => {
  it('leaves an injected client alone and refuses calls afterwards', async () => {
    const { fake, provider } = setup();
    await provider.close();
    expect(fake.destroyed).toBe(0);
    await expect(provider.generateDataKey()).rejects.toSatisfy((e: unknown) =>
      CmekClosedError.isInstance(e),
    );
    await expect(provider.unwrap(new Uint8Array([1]), KEY)).rejects.toSatisfy((e: unknown) =>
      CmekClosedError.isInstance(e),
    );
    await expect(provider.rewrap(new Uint8Array([1]), KEY)).rejects.toSatisfy((e: unknown) =>
      CmekClosedError.isInstance(e),
    );
    expect(fake.calls).toHaveLength(0);
  });

  it('destroys the client it created, once', async () => {
    const destroy = vi.spyOn(KMSClient.prototype, 'destroy');
    const provider = createAwsKmsKekProvider({
      keyId: KEY,
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' },
    });
    await provider.close();
    await provider.close();
    expect(destroy).toHaveBeenCalledTimes(1);
  });
});

describe('through an envelope (one KMS call per DEK, not per value)', () => {
  it('encrypts 500 values with one GenerateDataKey and decrypts them with one Decrypt', async () => {
    const { fake, provider } = setup();
    behaveLikeKms(fake);
    const events: KekCallEvent[] = [];
    const envelope = createEnvelope({
      kek: provider,
      onEvent: (e) => {
        if (e.type === 'kek-call') events.push(e);
      },
    });
    const values = Array.from({ length: 500 }, (_, i) => `secret-${i}`);
    const tokens: string[] = [];
    for (const value of values) tokens.push(await envelope.encrypt(value));
    expect(fake.calls.map((c) => c.name)).toEqual(['GenerateDataKey']);

    // A second envelope (a cold reader) over the same provider: one Decrypt for all 500.
    const reader = createEnvelope({ kek: provider });
    const opened: string[] = [];
    for (const token of tokens) opened.push(await reader.decrypt(token));
    expect(opened).toEqual(values);
    expect(fake.calls.map((c) => c.name)).toEqual(['GenerateDataKey', 'Decrypt']);
    expect(events.every((e) => e.providerId === 'aws-kms' && e.keyRef === KEY)).toBe(true);
    expect(reader.inspect(tokens[0]!)).toMatchObject({ providerId: 'aws-kms', keyRef: KEY });
  });
});
