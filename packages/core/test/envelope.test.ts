import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  CmekClosedError,
  CmekConfigError,
  CmekDecryptionError,
  CmekError,
  type CmekEvent,
  CmekFormatError,
  CmekInvalidInputError,
  CmekPlaintextRejectedError,
  CmekProviderError,
  createEnvelope,
  createKeyring,
  type KekProvider,
} from '../src/index';
import { memoryProvider } from './support/memory-provider';

const ctx = { field: 'Integration.slackToken' };

describe('createEnvelope: encrypt and decrypt', () => {
  it('round trips strings, the empty string, unicode, 64 KiB and bytes', async () => {
    const env = createEnvelope({ kek: memoryProvider() });
    for (const value of ['', 'xoxb-123', 'päßwörd ✓ 密码 🔑', 'x'.repeat(64 * 1024)]) {
      const token = await env.encrypt(value, { context: ctx });
      expect(token.startsWith('cmek:v1:')).toBe(true);
      expect(token).not.toContain(value || '\u0000');
      expect(await env.decrypt(token, { context: ctx })).toBe(value);
    }
    const bytes = new Uint8Array(Buffer.from('päß ✓ 🔑\u0000', 'utf8'));
    const token = await env.encrypt(bytes);
    expect(Array.from(await env.decryptBytes(token))).toEqual(Array.from(bytes));
    expect(await env.decrypt(token)).toBe('päß ✓ 🔑\u0000');
  });

  it('refuses bytes that are not UTF-8 (issue 19), alone and in a batch, with CMEK_INVALID_INPUT', async () => {
    const kek = memoryProvider();
    const env = createEnvelope({ kek });
    const bad = Buffer.from([0xff, 0xfe, 0xc3]);
    for (const run of [
      () => env.encrypt(bad),
      () => env.encrypt(new Uint8Array(bad)),
      () => env.encryptMany(['fine', bad, null]),
      () => env.encrypt(Buffer.from([0xed, 0xa0, 0x80])), // an encoded lone surrogate
    ]) {
      const error = await run().catch((e: unknown) => e);
      expect(CmekInvalidInputError.isInstance(error)).toBe(true);
      expect((error as CmekInvalidInputError).code).toBe('CMEK_INVALID_INPUT');
    }
    // Refused before any KEK call; valid UTF-8 bytes decrypt to the equal string.
    expect(kek.calls.generateDataKey).toBe(0);
    const [token] = await env.encryptMany([Buffer.from('h\u00e9', 'utf8')]);
    expect(await env.decrypt(token!)).toBe('h\u00e9');
  });

  it('passes null and undefined through without encrypting them', async () => {
    const kek = memoryProvider();
    const env = createEnvelope({ kek });
    expect(await env.encrypt(null)).toBeNull();
    expect(await env.encrypt(undefined)).toBeNull();
    expect(await env.decrypt(null)).toBeNull();
    expect(await env.encryptMany([null, 'a', undefined])).toEqual([null, expect.any(String), null]);
    expect(kek.calls.generateDataKey).toBe(1);
  });

  it('gives every value its own IV; values of one DEK and context share a salt (SPEC §3 rev. 2)', async () => {
    const env = createEnvelope({ kek: memoryProvider() });
    const a = await env.encrypt('same', { context: ctx });
    const b = await env.encrypt('same', { context: ctx });
    expect(a).not.toBe(b);
    expect(env.inspect(a).dekId).toBe(env.inspect(b).dekId);
    expect(a.split('|')[1]).toBe(b.split('|')[1]);
    expect(a.split('|')[2]!.slice(0, 32)).not.toBe(b.split('|')[2]!.slice(0, 32));
  });

  it('binds the value to its context: another context, or none, does not decrypt', async () => {
    const env = createEnvelope({ kek: memoryProvider() });
    const token = await env.encrypt('secret', { context: { field: 'a', tenant: '1' } });
    expect(await env.decrypt(token, { context: { tenant: '1', field: 'a' } })).toBe('secret');
    for (const other of [
      { field: 'a' },
      { field: 'a', tenant: '2' },
      { field: 'b', tenant: '1' },
      undefined,
    ]) {
      await expect(env.decrypt(token, other ? { context: other } : {})).rejects.toSatisfy(
        (e: unknown) => CmekDecryptionError.isInstance(e),
      );
    }
  });

  it('rejects a future version as a format error, never as plaintext', async () => {
    const env = createEnvelope({ kek: memoryProvider() });
    await expect(env.decrypt('cmek:v2:abc|def|ghi')).rejects.toSatisfy((e: unknown) =>
      CmekFormatError.isInstance(e),
    );
    await expect(env.decrypt('cmek:nonsense')).rejects.toSatisfy((e: unknown) =>
      CmekFormatError.isInstance(e),
    );
  });

  it('types bad input as CmekError, never a bare TypeError', async () => {
    const env = createEnvelope({ kek: memoryProvider() });
    const bad: unknown[] = [42, {}, [], true, Symbol('x')];
    for (const value of bad) {
      await expect(env.encrypt(value as string)).rejects.toSatisfy((e: unknown) =>
        CmekInvalidInputError.isInstance(e),
      );
      await expect(env.decrypt(value as string)).rejects.toSatisfy((e: unknown) =>
        CmekInvalidInputError.isInstance(e),
      );
    }
    await expect(
      env.encrypt('x', { context: { field: 1 as unknown as string } }),
    ).rejects.toSatisfy((e: unknown) => CmekInvalidInputError.isInstance(e));
    await expect(env.encrypt('x', { context: { '': 'y' } })).rejects.toSatisfy((e: unknown) =>
      CmekInvalidInputError.isInstance(e),
    );
    await expect(env.encryptMany('abc' as unknown as string[])).rejects.toSatisfy((e: unknown) =>
      CmekInvalidInputError.isInstance(e),
    );
    expect(() =>
      createEnvelope(undefined as unknown as Parameters<typeof createEnvelope>[0]),
    ).toThrow(CmekConfigError);
    expect(() => createEnvelope({ kek: {} as KekProvider })).toThrow(CmekConfigError);
    expect(() => createEnvelope({ kek: memoryProvider(), dekCache: { maxUses: 0 } })).toThrow(
      CmekConfigError,
    );
    expect(() =>
      createEnvelope({ kek: memoryProvider(), plaintextPolicy: 'maybe' as 'allow' }),
    ).toThrow(CmekConfigError);
  });

  it('isEncrypted is true for anything with the cmek: prefix and only for strings', () => {
    const env = createEnvelope({ kek: memoryProvider() });
    expect(env.isEncrypted('cmek:v1:x')).toBe(true);
    expect(env.isEncrypted('cmek:v9:x')).toBe(true);
    expect(env.isEncrypted('plain')).toBe(false);
    expect(env.isEncrypted(null)).toBe(false);
    expect(env.isEncrypted(12)).toBe(false);
  });

  it('inspect gives routing data and nothing secret', async () => {
    const kek = memoryProvider({ keyRef: 'ref-1' });
    const env = createEnvelope({ kek });
    const token = await env.encrypt('secret');
    const info = env.inspect(token);
    expect(info).toEqual({
      version: 'v1',
      providerId: 'memory',
      keyRef: 'ref-1',
      dekId: expect.stringMatching(/^[0-9a-f]{16}$/),
    });
    expect(JSON.stringify(info)).not.toContain(token.split('|')[0]!.slice(8));
  });
});

describe('plaintext policy', () => {
  it('allow returns legacy plaintext and reports it', async () => {
    const events: CmekEvent[] = [];
    const env = createEnvelope({ kek: memoryProvider(), onEvent: (e) => events.push(e) });
    expect(await env.decrypt('legacy', { context: ctx })).toBe('legacy');
    expect(events).toContainEqual({ type: 'plaintext-read', policy: 'allow', field: ctx.field });
  });

  it('warn returns it with a warn event', async () => {
    const events: CmekEvent[] = [];
    const env = createEnvelope({
      kek: memoryProvider(),
      plaintextPolicy: 'warn',
      onEvent: (e) => events.push(e),
    });
    expect(await env.decryptMany(['a', null], { context: ctx })).toEqual(['a', null]);
    expect(events).toEqual([
      { type: 'plaintext-read', policy: 'warn', field: ctx.field },
      // The call's one `values` event: the legacy value counts, the null does not.
      { type: 'values', operation: 'decrypt', count: 1, field: ctx.field },
    ]);
  });

  it('reject throws, per envelope or per call, without echoing the value', async () => {
    const env = createEnvelope({ kek: memoryProvider(), plaintextPolicy: 'reject' });
    const error = await env.decrypt('hunter2', { context: ctx }).catch((e: unknown) => e);
    expect(CmekPlaintextRejectedError.isInstance(error)).toBe(true);
    expect(String(error)).not.toContain('hunter2');
    expect((error as CmekPlaintextRejectedError).field).toBe(ctx.field);
    const lenient = createEnvelope({ kek: memoryProvider() });
    await expect(lenient.decrypt('hunter2', { plaintextPolicy: 'reject' })).rejects.toThrow(
      CmekPlaintextRejectedError,
    );
    expect(await env.decrypt(null)).toBeNull();
  });
});

describe('write-side DEK cache', () => {
  it('uses one DEK until maxUses, then a new one', async () => {
    const kek = memoryProvider();
    const env = createEnvelope({ kek, dekCache: { maxUses: 3 } });
    const tokens = [];
    for (let i = 0; i < 7; i++) tokens.push(await env.encrypt(`v${i}`));
    expect(kek.calls.generateDataKey).toBe(3);
    const ids = tokens.map((t) => env.inspect(t).dekId);
    expect(new Set(ids.slice(0, 3)).size).toBe(1);
    expect(new Set(ids.slice(3, 6)).size).toBe(1);
    expect(ids[0]).not.toBe(ids[3]);
    expect(ids[3]).not.toBe(ids[6]);
  });

  it('encryptMany splits a batch across DEKs at maxUses', async () => {
    const kek = memoryProvider();
    const env = createEnvelope({ kek, dekCache: { maxUses: 4 } });
    const tokens = (await env.encryptMany(
      Array.from({ length: 10 }, (_, i) => `v${i}`),
    )) as string[];
    expect(kek.calls.generateDataKey).toBe(3);
    const counts = new Map<string, number>();
    for (const t of tokens)
      counts.set(env.inspect(t).dekId, (counts.get(env.inspect(t).dekId) ?? 0) + 1);
    expect([...counts.values()].sort()).toEqual([2, 4, 4]);
  });

  it('uses a new DEK after maxAgeMs', async () => {
    const kek = memoryProvider();
    const env = createEnvelope({ kek, dekCache: { maxAgeMs: 20 } });
    const a = await env.encrypt('a');
    await new Promise((r) => setTimeout(r, 40));
    const b = await env.encrypt('b');
    expect(kek.calls.generateDataKey).toBe(2);
    expect(env.inspect(a).dekId).not.toBe(env.inspect(b).dekId);
  });

  it('concurrent misses share one in-flight KEK call', async () => {
    const kek = memoryProvider();
    kek.delayMs = 20;
    const env = createEnvelope({ kek });
    const tokens = await Promise.all(Array.from({ length: 50 }, (_, i) => env.encrypt(`v${i}`)));
    expect(kek.calls.generateDataKey).toBe(1);
    expect(await env.decryptMany(tokens)).toEqual(Array.from({ length: 50 }, (_, i) => `v${i}`));
  });

  it('dekCache: false makes one KEK call per value', async () => {
    const kek = memoryProvider();
    const env = createEnvelope({ kek, dekCache: false });
    await env.encryptMany(['a', 'b', 'c']);
    expect(kek.calls.generateDataKey).toBe(1);
    await env.encrypt('d');
    await env.encrypt('e');
    expect(kek.calls.generateDataKey).toBe(3);
  });

  it('a failed KEK call fails every waiting caller, caches nothing, and the next call retries', async () => {
    const kek = memoryProvider();
    kek.delayMs = 10;
    kek.failWith = new Error('boom');
    const env = createEnvelope({ kek });
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => env.encrypt('x')));
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    expect(kek.calls.generateDataKey).toBe(1);
    kek.failWith = undefined;
    expect(await env.decrypt(await env.encrypt('ok'))).toBe('ok');
    expect(kek.calls.generateDataKey).toBe(2);
  });
});

describe('read-side DEK cache', () => {
  it('a result set of 10,000 values sharing one DEK costs one KEK call', async () => {
    const writer = createEnvelope({ kek: memoryProvider({ keyRef: 'k' }) });
    const kek = writer.keyring.primary as ReturnType<typeof memoryProvider>;
    const tokens = await writer.encryptMany(Array.from({ length: 10_000 }, (_, i) => `row-${i}`));
    const reader = createEnvelope({ kek });
    const unwrapsBefore = kek.calls.unwrap;
    const plain = await reader.decryptMany(tokens);
    expect(plain[9_999]).toBe('row-9999');
    expect(kek.calls.unwrap - unwrapsBefore).toBe(1);
    // A second pass, and single decrypts, hit the cache.
    await reader.decryptMany(tokens);
    await Promise.all(tokens.slice(0, 100).map((t) => reader.decrypt(t)));
    expect(kek.calls.unwrap - unwrapsBefore).toBe(1);
  });

  it('one KEK call per distinct DEK, batched through unwrapMany when the provider has it', async () => {
    const kek = memoryProvider({ batch: true });
    const writer = createEnvelope({ kek, dekCache: { maxUses: 10 } });
    const tokens = await writer.encryptMany(Array.from({ length: 100 }, (_, i) => `v${i}`));
    const reader = createEnvelope({ kek });
    expect(await reader.decryptMany(tokens)).toEqual(
      Array.from({ length: 100 }, (_, i) => `v${i}`),
    );
    expect(kek.calls.unwrapMany).toBe(1);
    expect(kek.calls.unwrap).toBe(0);
  });

  it('concurrent decrypts of an uncached DEK share one unwrap', async () => {
    const kek = memoryProvider();
    const token = await createEnvelope({ kek }).encrypt('v');
    kek.delayMs = 20;
    const reader = createEnvelope({ kek });
    const out = await Promise.all(Array.from({ length: 30 }, () => reader.decrypt(token)));
    expect(out.every((v) => v === 'v')).toBe(true);
    expect(kek.calls.unwrap).toBe(1);
  });

  it('evicts the least recently used DEK beyond maxEntries and unwraps it again', async () => {
    const kek = memoryProvider();
    const writer = createEnvelope({ kek, dekCache: { maxUses: 1 } });
    const [a, b, c] = (await writer.encryptMany(['a', 'b', 'c'])) as [string, string, string];
    const reader = createEnvelope({ kek, decryptCache: { maxEntries: 2 } });
    await reader.decrypt(a);
    await reader.decrypt(b);
    await reader.decrypt(a); // a is now the most recent
    await reader.decrypt(c); // evicts b
    expect(kek.calls.unwrap).toBe(3);
    await reader.decrypt(a);
    expect(kek.calls.unwrap).toBe(3);
    await reader.decrypt(b);
    expect(kek.calls.unwrap).toBe(4);
  });

  it('re-unwraps after maxAgeMs, and decryptCache: false unwraps every time', async () => {
    const kek = memoryProvider();
    const token = await createEnvelope({ kek }).encrypt('v');
    const aging = createEnvelope({ kek, decryptCache: { maxAgeMs: 20 } });
    await aging.decrypt(token);
    await new Promise((r) => setTimeout(r, 40));
    await aging.decrypt(token);
    expect(kek.calls.unwrap).toBe(2);
    const uncached = createEnvelope({ kek, decryptCache: false });
    await uncached.decrypt(token);
    await uncached.decrypt(token);
    expect(kek.calls.unwrap).toBe(4);
  });

  it('a value read back right after it was written costs no unwrap', async () => {
    const kek = memoryProvider();
    const env = createEnvelope({ kek });
    expect(await env.decrypt(await env.encrypt('fresh'))).toBe('fresh');
    expect(kek.calls.unwrap).toBe(0);
  });
});

describe('provider invariants', () => {
  function broken(overrides: Partial<KekProvider>): KekProvider {
    return { ...memoryProvider(), ...overrides };
  }

  it('refuses a DEK that is not 32 bytes, and empty or oversized wrapped bytes', async () => {
    const cases: Partial<KekProvider>[] = [
      {
        generateDataKey: async () => ({
          plaintext: new Uint8Array(16),
          wrapped: new Uint8Array(4),
        }),
      },
      {
        generateDataKey: async () => ({
          plaintext: new Uint8Array(32),
          wrapped: new Uint8Array(0),
        }),
      },
      {
        generateDataKey: async () => ({
          plaintext: new Uint8Array(32),
          wrapped: new Uint8Array(8193),
        }),
      },
      {
        generateDataKey: async () =>
          null as unknown as { plaintext: Uint8Array; wrapped: Uint8Array },
      },
    ];
    for (const overrides of cases) {
      const env = createEnvelope({ kek: broken(overrides) });
      await expect(env.encrypt('x')).rejects.toSatisfy((e: unknown) =>
        CmekProviderError.isInstance(e),
      );
    }
    const shortUnwrap = memoryProvider();
    const token = await createEnvelope({ kek: shortUnwrap }).encrypt('x');
    const reader = createEnvelope({
      kek: { ...shortUnwrap, unwrap: async () => new Uint8Array(31) },
    });
    await expect(reader.decrypt(token)).rejects.toSatisfy((e: unknown) =>
      CmekProviderError.isInstance(e),
    );
  });

  it('refuses a provider without a keyRef or with a bad provider id', () => {
    expect(() => createEnvelope({ kek: broken({ keyRef: '' }) })).toThrow(CmekConfigError);
    expect(() => createEnvelope({ kek: broken({ providerId: 'Bad_Id' }) })).toThrow(
      CmekConfigError,
    );
    expect(() => createEnvelope({ kek: broken({ specificationVersion: 'v2' as 'v1' }) })).toThrow(
      CmekConfigError,
    );
  });

  it('wraps an unexpected provider throw in CmekProviderError with the cause', async () => {
    const cause = new TypeError('socket exploded');
    const env = createEnvelope({
      kek: broken({ generateDataKey: async () => Promise.reject(cause) }),
    });
    const error = await env.encrypt('x').catch((e: unknown) => e);
    expect(CmekProviderError.isInstance(error)).toBe(true);
    expect((error as Error).cause).toBe(cause);
  });

  it('zeroes the DEK bytes a provider hands over once it has its own copy', async () => {
    const handed: Uint8Array[] = [];
    const inner = memoryProvider();
    const env = createEnvelope({
      kek: {
        ...inner,
        async generateDataKey() {
          const key = await inner.generateDataKey();
          handed.push(key.plaintext);
          return key;
        },
      },
    });
    await env.encrypt('x');
    expect(handed[0]!.every((b) => b === 0)).toBe(true);
  });
});

describe('events', () => {
  it('reports KEK calls, cache hits and misses, and failures, with no secret in them', async () => {
    const events: CmekEvent[] = [];
    const kek = memoryProvider({ keyRef: 'ref' });
    const env = createEnvelope({ kek, onEvent: (e) => events.push(e) });
    const secret = 'correct horse battery staple';
    const token = await env.encrypt(secret, { context: ctx });
    await env.encrypt('other', { context: ctx });
    await env.decrypt(token, { context: { field: 'wrong' } }).catch(() => undefined);
    const types = events.map((e) => e.type);
    expect(types).toContain('kek-call');
    expect(types).toContain('cache-miss');
    expect(types).toContain('cache-hit');
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'decrypt-failed',
        errorCode: 'CMEK_DECRYPTION',
        providerId: 'memory',
        keyRef: 'ref',
      }),
    );
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'kek-call',
        operation: 'generateDataKey',
        ok: true,
        count: 1,
      }),
    );
    const dump = JSON.stringify(events);
    expect(dump).not.toContain(secret);
    for (const part of token.slice(8).split('|')) expect(dump).not.toContain(part);
  });

  it('a throwing listener does not break encryption', async () => {
    const env = createEnvelope({
      kek: memoryProvider(),
      onEvent: () => {
        throw new Error('metrics down');
      },
    });
    expect(await env.decrypt(await env.encrypt('v'))).toBe('v');
  });
});

describe('errors carry no secret', () => {
  it('messages, String() and util.inspect() of decryption and format errors hold no token part', async () => {
    const env = createEnvelope({ kek: memoryProvider() });
    const token = await env.encrypt('s3cr3t-value', { context: ctx });
    const tampered = `${token.slice(0, -6)}AAAA==`;
    const broken = `cmek:v1:${token.slice(8).replace('|', '#')}`;
    for (const bad of [tampered, broken, `${token}|extra`]) {
      const error = await env.decrypt(bad, { context: ctx }).catch((e: unknown) => e);
      expect(CmekError.isInstance(error)).toBe(true);
      const text = `${String(error)} ${inspect(error)} ${(error as Error).message}`;
      for (const part of token.slice(8).split('|')) expect(text).not.toContain(part);
      expect(text).not.toContain('s3cr3t-value');
    }
  });
});

describe('close', () => {
  it('closes providers once, and later calls throw CmekClosedError', async () => {
    let closes = 0;
    const kek = { ...memoryProvider(), close: async () => void closes++ };
    const env = createEnvelope({ kek });
    const token = await env.encrypt('x');
    await env.close();
    await env.close();
    expect(closes).toBe(1);
    await expect(env.encrypt('y')).rejects.toSatisfy((e: unknown) => CmekClosedError.isInstance(e));
    await expect(env.decrypt(token)).rejects.toSatisfy((e: unknown) =>
      CmekClosedError.isInstance(e),
    );
  });
});

describe('keyring', () => {
  it('writes under the primary and reads values of every KEK in the ring', async () => {
    const oldKek = memoryProvider({ keyRef: 'old' });
    const newKek = memoryProvider({ keyRef: 'new' });
    const before = await createEnvelope({ kek: oldKek }).encrypt('legacy-row', { context: ctx });
    const env = createEnvelope({ kek: createKeyring({ primary: newKek, decryptOnly: [oldKek] }) });
    const after = await env.encrypt('new-row', { context: ctx });
    expect(env.inspect(after).keyRef).toBe('new');
    expect(await env.decrypt(before, { context: ctx })).toBe('legacy-row');
    expect(await env.decryptMany([before, after], { context: ctx })).toEqual([
      'legacy-row',
      'new-row',
    ]);
  });

  it('a token whose KEK is not in the ring names its provider and keyRef', async () => {
    const gone = memoryProvider({ providerId: 'vault', keyRef: 'transit/app' });
    const token = await createEnvelope({ kek: gone }).encrypt('x');
    const env = createEnvelope({ kek: createKeyring({ primary: memoryProvider() }) });
    const error = await env.decrypt(token).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'CMEK_UNKNOWN_KEK',
      providerId: 'vault',
      keyRef: 'transit/app',
    });
    expect((error as Error).message).toContain('transit/app');
  });

  it('refuses two different providers answering for the same provider id and keyRef', () => {
    const a = memoryProvider({ keyRef: 'same' });
    const b = memoryProvider({ keyRef: 'same' });
    expect(() => createKeyring({ primary: a, decryptOnly: [b] })).toThrow(CmekConfigError);
    expect(() => createKeyring({ primary: a, decryptOnly: [a] })).not.toThrow();
  });
});

describe('strings UTF-8 cannot hold', () => {
  it('refuses a lone surrogate in a value or a context instead of storing a changed string', async () => {
    const env = createEnvelope({ kek: memoryProvider() });
    for (const value of ['a\uD800b', '\uDFFF', 'x\uD83D']) {
      await expect(env.encrypt(value)).rejects.toSatisfy((e: unknown) =>
        CmekInvalidInputError.isInstance(e),
      );
    }
    // U+D800 and U+FFFD would otherwise encode to the same context bytes.
    const token = await env.encrypt('v', { context: { f: '\uFFFD' } });
    await expect(env.decrypt(token, { context: { f: '\uD800' } })).rejects.toSatisfy((e: unknown) =>
      CmekInvalidInputError.isInstance(e),
    );
    expect(await env.decrypt(await env.encrypt('ok 🔑'))).toBe('ok 🔑');
  });
});
