/**
 * Integration tests against the moto server: KMS encryption context, key states, ReEncrypt to a
 * second key, aliases, and a server that stops answering or dies mid-test.
 */
import {
  CreateAliasCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  type KMSClient,
  ScheduleKeyDeletionCommand,
  UpdateAliasCommand,
} from '@aws-sdk/client-kms';
import {
  CmekDecryptionError,
  type CmekEvent,
  CmekKekAccessDeniedError,
  CmekKekUnavailableError,
  CmekUnknownKekError,
  createEnvelope,
  createKeyring,
  type KekCallEvent,
} from '@cmek/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AwsKmsKekProviderOptions, createAwsKmsKekProvider } from '../src/index';
import {
  adminClient,
  bareId,
  CREDENTIALS,
  causeName,
  createKey,
  failure,
  motoEndpoint,
  PrivateMoto,
  REGION,
} from './support/moto';

const endpoint = motoEndpoint() ?? '';

/** The SPEC-cmek-v1 token with its `kek` part replaced by a new record (section 2), by hand. */
function withRecord(
  token: string,
  providerId: string,
  keyRef: string,
  wrapped: Uint8Array,
): string {
  const [kek, salt, fernet] = token.slice('cmek:v1:'.length).split('|');
  expect(kek && salt && fernet).toBeTruthy();
  const ref = Buffer.from(keyRef, 'utf8');
  const record = Buffer.concat([
    Buffer.from([0x01, providerId.length]),
    Buffer.from(providerId, 'ascii'),
    Buffer.from([ref.length >> 8, ref.length & 0xff]),
    ref,
    Buffer.from(wrapped),
  ]);
  return `cmek:v1:${record.toString('base64url')}|${salt}|${fernet}`;
}

/** The wrapped DEK of a token (section 2), by hand. */
function wrappedOf(token: string): Buffer {
  const kek = Buffer.from(token.slice('cmek:v1:'.length).split('|')[0]!, 'base64url');
  const p = kek[1]!;
  const k = kek.readUInt16BE(2 + p);
  return kek.subarray(4 + p + k);
}

describe.skipIf(!endpoint)('aws-kms against moto', () => {
  let admin: KMSClient;
  const provider = (keyId: string, extra: Partial<AwsKmsKekProviderOptions> = {}) =>
    createAwsKmsKekProvider({
      keyId,
      region: REGION,
      endpoint,
      credentials: CREDENTIALS,
      ...extra,
    });

  beforeAll(() => {
    admin = adminClient(endpoint);
  });
  afterAll(() => {
    admin?.destroy();
  });

  it('a value written under one KMS encryption context does not open under another', async () => {
    const key = await createKey(admin, 'context');
    const writer = createEnvelope({
      kek: provider(key, { encryptionContext: { app: 'billing', env: 'prod' } }),
    });
    const token = await writer.encrypt('smtp-password');

    const sameContext = createEnvelope({
      kek: provider(key, { encryptionContext: { env: 'prod', app: 'billing' } }),
    });
    expect(await sameContext.decrypt(token)).toBe('smtp-password');

    for (const other of [{ app: 'billing', env: 'staging' }, { app: 'billing' }, undefined]) {
      const reader = createEnvelope({
        kek: provider(key, other === undefined ? {} : { encryptionContext: other }),
      });
      const error = await failure(() => reader.decrypt(token));
      expect(CmekDecryptionError.isInstance(error)).toBe(true);
      expect(causeName(error)).toBe('InvalidCiphertextException');
      await reader.close();
    }
    await Promise.all([writer.close(), sameContext.close()]);
  });

  it('a disabled key gives the access-denied error, for writers and readers; enabling it restores both', async () => {
    const key = await createKey(admin, 'disabled');
    const writer = createEnvelope({ kek: provider(key) });
    const token = await writer.encrypt('webhook-secret');
    await admin.send(new DisableKeyCommand({ KeyId: bareId(key) }));

    const fresh = createEnvelope({ kek: provider(key) });
    const onWrite = await failure(() => fresh.encrypt('another'));
    expect(CmekKekAccessDeniedError.isInstance(onWrite)).toBe(true);
    expect(onWrite.retryable).toBe(false);
    expect(causeName(onWrite)).toBe('DisabledException');
    const onRead = await failure(() => fresh.decrypt(token));
    expect(CmekKekAccessDeniedError.isInstance(onRead)).toBe(true);
    expect(causeName(onRead)).toBe('DisabledException');

    await admin.send(new EnableKeyCommand({ KeyId: bareId(key) }));
    expect(await fresh.decrypt(token)).toBe('webhook-secret');
    expect(await fresh.decrypt(await fresh.encrypt('another'))).toBe('another');
    await Promise.all([writer.close(), fresh.close()]);
  });

  it('a key pending deletion gives the access-denied error', async () => {
    const key = await createKey(admin, 'pending deletion');
    const kek = provider(key);
    const { wrapped } = await kek.generateDataKey();
    await admin.send(
      new ScheduleKeyDeletionCommand({ KeyId: bareId(key), PendingWindowInDays: 7 }),
    );
    const error = await failure(() => kek.unwrap(wrapped, key));
    expect(CmekKekAccessDeniedError.isInstance(error)).toBe(true);
    expect(causeName(error)).toBe('KMSInvalidStateException');
    await kek.close();
  });

  it('a key that does not exist is an unknown KEK', async () => {
    const missing = 'arn:aws:kms:us-east-1:123456789012:key/00000000-1111-4222-8333-444444444444';
    const kek = provider(missing);
    const error = await failure(() => kek.generateDataKey());
    expect(CmekUnknownKekError.isInstance(error)).toBe(true);
    expect((error as CmekUnknownKekError).keyRef).toBe(missing);
    await kek.close();
  });

  it('ReEncrypt moves a DEK to a second key; the value decrypts through a keyring without the first key', async () => {
    const first = await createKey(admin, 'rotation from');
    const second = await createKey(admin, 'rotation to');
    const context = { app: 'rotation' };
    const old = provider(first, { encryptionContext: context });
    const writer = createEnvelope({ kek: old });
    const values = ['totp-1', 'totp-2', 'totp-3'];
    const tokens = await Promise.all(values.map((v) => writer.encrypt(v, { context: { f: 'x' } })));
    // One cached DEK wrote all three.
    expect(new Set(tokens.map((t) => wrappedOf(t).toString('hex'))).size).toBe(1);

    const current = provider(second, { encryptionContext: context });
    const moved = await current.rewrap(wrappedOf(tokens[0]!), first);
    expect(moved.keyRef).toBe(second);
    expect(moved.wrapped.byteLength).toBeGreaterThan(0);
    expect(Buffer.from(moved.wrapped).equals(wrappedOf(tokens[0]!))).toBe(false);
    const rewritten = tokens.map((t) => withRecord(t, 'aws-kms', moved.keyRef, moved.wrapped));

    // The first key is no longer needed: disable it, and read through a ring that lacks it.
    await admin.send(new DisableKeyCommand({ KeyId: bareId(first) }));
    const reader = createEnvelope({ kek: createKeyring({ primary: current }) });
    for (const [i, token] of rewritten.entries()) {
      expect(reader.inspect(token).keyRef).toBe(second);
      expect(await reader.decrypt(token, { context: { f: 'x' } })).toBe(values[i]);
    }
    // The old tokens still name the first key: unknown to this ring.
    const error = await failure(() => reader.decrypt(tokens[0]!, { context: { f: 'x' } }));
    expect(CmekUnknownKekError.isInstance(error)).toBe(true);
    // And the first key, disabled, refuses to move anything more.
    const denied = await failure(() => current.rewrap(wrappedOf(tokens[0]!), first));
    expect(CmekKekAccessDeniedError.isInstance(denied)).toBe(true);
    await Promise.all([writer.close(), reader.close()]);
  });

  it('ReEncrypt refuses a source key that is not the one that wrapped the DEK', async () => {
    const a = await createKey(admin, 'wrong a');
    const b = await createKey(admin, 'wrong b');
    const c = await createKey(admin, 'wrong c');
    const writer = provider(a);
    const mover = provider(c);
    const { wrapped } = await writer.generateDataKey();
    const error = await failure(() => mover.rewrap(wrapped, b));
    expect(CmekDecryptionError.isInstance(error)).toBe(true);
    expect(causeName(error)).toBe('IncorrectKeyException');
    await Promise.all([writer.close(), mover.close()]);
  });

  it('an alias pointed at another key: new values go to the new key, old values stop opening', async () => {
    const first = await createKey(admin, 'alias first');
    const second = await createKey(admin, 'alias second');
    const alias = `alias/cmek-test-${Date.now()}-${Math.random().toString(36).slice(2)}`;
    await admin.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: bareId(first) }));
    const writer = createEnvelope({ kek: provider(alias) });
    const before = await writer.encrypt('before the move');
    expect(writer.inspect(before).keyRef).toBe(alias);

    await admin.send(new UpdateAliasCommand({ AliasName: alias, TargetKeyId: bareId(second) }));
    const reader = createEnvelope({ kek: provider(alias) });
    // Decrypt passes KeyId = the alias, which now names the second key.
    const error = await failure(() => reader.decrypt(before));
    expect(CmekDecryptionError.isInstance(error)).toBe(true);
    expect(causeName(error)).toBe('IncorrectKeyException');
    const after = await reader.encrypt('after the move');
    expect(await reader.decrypt(after)).toBe('after the move');
    // A provider over the first key's ARN cannot help either: the token's keyRef is the alias.
    const byArn = createEnvelope({ kek: createKeyring({ primary: provider(first) }) });
    expect(CmekUnknownKekError.isInstance(await failure(() => byArn.decrypt(before)))).toBe(true);
    // Pointing the alias back makes them open again.
    await admin.send(new UpdateAliasCommand({ AliasName: alias, TargetKeyId: bareId(first) }));
    const back = createEnvelope({ kek: provider(alias) });
    expect(await back.decrypt(before)).toBe('before the move');
    await Promise.all([writer.close(), reader.close(), byArn.close(), back.close()]);
  });

  describe('a server that stops answering, then dies', () => {
    let moto: PrivateMoto;
    beforeAll(async () => {
      moto = await PrivateMoto.start();
    });
    afterAll(async () => {
      await moto?.kill();
    });

    it('fails with CmekKekUnavailableError, keeps no half-made DEK, and works again when the server is back', async () => {
      const own = adminClient(moto.endpoint);
      const key = await createKey(own, 'stopped server');
      own.destroy();
      // A short per-attempt timeout and no retry: a paused server times out quickly.
      const impatient = (onEvent?: (e: CmekEvent) => void) =>
        createEnvelope({
          kek: provider(key, { endpoint: moto.endpoint, maxAttempts: 1, requestTimeoutMs: 1_000 }),
          ...(onEvent ? { onEvent } : {}),
        });
      const calls: KekCallEvent[] = [];
      const warm = impatient();
      const written = await warm.encrypt('written while up');
      const cold = impatient((e) => {
        if (e.type === 'kek-call') calls.push(e);
      });

      moto.pause();
      try {
        const onWrite = await failure(() => cold.encrypt('while stopped'));
        expect(CmekKekUnavailableError.isInstance(onWrite)).toBe(true);
        expect(onWrite.retryable).toBe(true);
        expect(causeName(onWrite)).toBe('TimeoutError');
        const onRead = await failure(() => cold.decrypt(written));
        expect(CmekKekUnavailableError.isInstance(onRead)).toBe(true);
        // The envelope that holds a DEK keeps writing and reading without KMS.
        const offline = await warm.encrypt('cached DEK');
        expect(await warm.decrypt(offline)).toBe('cached DEK');
        expect(await warm.decrypt(written)).toBe('written while up');
      } finally {
        moto.resume();
      }

      // Back: the cold envelope cached nothing from its failures, and calls KMS again.
      const failed = calls.length;
      expect(calls.every((c) => !c.ok && c.errorCode === 'CMEK_KEK_UNAVAILABLE')).toBe(true);
      const token = await cold.encrypt('after the pause');
      expect(await cold.decrypt(written)).toBe('written while up');
      expect(calls.slice(failed).map((c) => [c.operation, c.ok])).toEqual([
        ['generateDataKey', true],
        ['unwrap', true],
      ]);
      const independent = impatient();
      expect(await independent.decrypt(token)).toBe('after the pause');

      // Killed: connections are refused; the SDK tries maxAttempts times, then gives up.
      const fresh = createEnvelope({
        kek: provider(key, { endpoint: moto.endpoint, maxAttempts: 2 }),
      });
      await moto.kill();
      const refused = await failure(() => fresh.encrypt('after the kill'));
      expect(CmekKekUnavailableError.isInstance(refused)).toBe(true);
      expect(refused.retryable).toBe(true);
      const cause = refused.cause as { code?: unknown; $metadata?: { attempts?: unknown } };
      expect(cause.code).toBe('ECONNREFUSED');
      expect(cause.$metadata?.attempts).toBe(2);
      expect(CmekKekUnavailableError.isInstance(await failure(() => fresh.decrypt(written)))).toBe(
        true,
      );
      await Promise.all([warm.close(), cold.close(), independent.close(), fresh.close()]);
    });
  });
});
