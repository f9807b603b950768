/**
 * The token codec of SPEC §1-2: strict base64url, every length and alphabet check of the token and
 * the wrapped-DEK record, and `inspect`.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeB64url,
  encodeB64url,
  encodeB64urlPadded,
  tryDecodeB64url,
  tryDecodeB64urlPadded,
} from '../src/base64url';
import {
  CmekError,
  CmekFormatError,
  CmekInvalidInputError,
  createEnvelope,
  inspectToken,
  TOKEN_PREFIX,
} from '../src/index';
import { decodeRecord, encodeRecord } from '../src/record';
import { formatToken, parseToken } from '../src/token';
import { memoryProvider } from './support/memory-provider';

const WRAPPED = Buffer.alloc(60, 7);
const SALT = Buffer.alloc(16, 0xb0);
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function recordBytes(
  version: number,
  providerId: Buffer,
  keyRef: Buffer,
  wrapped: Buffer,
  declaredKeyRefLength = keyRef.length,
): Buffer {
  const head = Buffer.alloc(4 + providerId.length);
  head[0] = version;
  head[1] = providerId.length;
  providerId.copy(head, 2);
  head.writeUInt16BE(declaredKeyRefLength, 2 + providerId.length);
  return Buffer.concat([head, keyRef, wrapped]);
}

const good = recordBytes(1, Buffer.from('local'), Buffer.from('0123456789abcdef'), WRAPPED);

function tokenWith(record: Buffer, salt: Buffer = SALT, fernet = 'gAAAAA=='): string {
  return formatToken(encodeB64url(record), salt, fernet);
}

function formatErrorOf(run: () => unknown): CmekFormatError {
  try {
    run();
  } catch (error) {
    expect(CmekFormatError.isInstance(error), String(error)).toBe(true);
    return error as CmekFormatError;
  }
  throw new Error('expected a CmekFormatError, nothing was thrown');
}

describe('base64url (unpadded, strict)', () => {
  it('round trips every length from 0 to 64 bytes, including views into larger buffers', () => {
    for (let n = 0; n <= 64; n++) {
      const backing = randomBytes(n + 7);
      const view = new Uint8Array(backing.buffer, backing.byteOffset + 3, n);
      const text = encodeB64url(view);
      expect(text).toMatch(/^[A-Za-z0-9_-]*$/);
      expect(text.length).toBe(Math.ceil((n * 4) / 3));
      expect(tryDecodeB64url(text)?.equals(Buffer.from(view))).toBe(true);
    }
  });

  it('uses - and _ where standard base64 has + and /', () => {
    expect(encodeB64url(Buffer.from([0xfb, 0xff, 0xbf]))).toBe('-_-_');
    expect(tryDecodeB64url('-_-_')).toEqual(Buffer.from([0xfb, 0xff, 0xbf]));
  });

  it.each([
    ['plus', '+_-_'],
    ['slash', '-/-_'],
    ['padding', 'AQ=='],
    ['one pad char', 'AQI='],
    ['equals inside', 'AQ=I'],
    ['space', 'AQ I'],
    ['leading space', ' AQI'],
    ['newline', 'AQI\n'],
    ['carriage return', 'AQI\r'],
    ['tab', '\tAQI'],
    ['dot', 'AQ.I'],
    ['bar', 'AQ|I'],
    ['non-ASCII letter', 'AQé'],
    ['fullwidth A', 'AQ\uFF21'],
    ['NUL', 'AQ\u0000'],
  ])('rejects %s', (_name, text) => {
    expect(tryDecodeB64url(text)).toBeUndefined();
    expect(() => decodeB64url(text, 'the test part')).toThrow(CmekFormatError);
  });

  it('rejects a length that no byte string has (4n + 1)', () => {
    for (const text of ['A', 'AAAAA', 'AAAAAAAAA']) expect(tryDecodeB64url(text)).toBeUndefined();
  });

  it('accepts only the canonical encoding: non-zero unused bits are rejected', () => {
    // One trailing byte: 2 characters, the last carries 4 unused bits.
    for (const c of ALPHABET) {
      const text = `A${c}`;
      const canonical = (ALPHABET.indexOf(c) & 0b1111) === 0;
      expect(tryDecodeB64url(text) !== undefined, text).toBe(canonical);
    }
    // Two trailing bytes: 3 characters, the last carries 2 unused bits.
    for (const c of ALPHABET) {
      const text = `AA${c}`;
      const canonical = (ALPHABET.indexOf(c) & 0b11) === 0;
      expect(tryDecodeB64url(text) !== undefined, text).toBe(canonical);
    }
  });

  it('names the part in the error, never the text', () => {
    const error = formatErrorOf(() => decodeB64url('secret+value', 'the salt part'));
    expect(error.message).toContain('the salt part');
    expect(error.message).not.toContain('secret');
  });
});

describe('base64url (padded, the Fernet part)', () => {
  it('round trips every length from 0 to 64 bytes', () => {
    for (let n = 0; n <= 64; n++) {
      const bytes = randomBytes(n);
      const text = encodeB64urlPadded(bytes);
      expect(text.length % 4).toBe(0);
      expect(text).toBe(bytes.toString('base64').replaceAll('+', '-').replaceAll('/', '_'));
      expect(tryDecodeB64urlPadded(text)?.equals(bytes)).toBe(true);
    }
  });

  it.each([
    ['missing padding', 'AQ'],
    ['missing one pad char', 'AQ='],
    ['extra padding', 'AQI=='],
    ['a whole block of padding', 'AQI====='],
    ['padding in the middle', 'AQ==AQ=='],
    ['plus', '+AAA'],
    ['slash', 'AA/A'],
    ['space', 'AAA A'],
    ['newline', 'AAAA\n'],
    ['non-zero unused bits', 'AR=='],
    ['non-zero unused bits (two bytes)', 'AAB='],
  ])('rejects %s', (_name, text) => {
    expect(tryDecodeB64urlPadded(text)).toBeUndefined();
  });
});

/**
 * A reference model of "canonical base64url", written from RFC 4648 rather than from the code:
 * alphabet only, a length that some byte string has, zero unused bits in the last character, and
 * (padded form) exactly the padding that length needs.
 */
function canonicalReference(text: string, padded: boolean): boolean {
  let body = text;
  if (padded) {
    if (text.length % 4 !== 0) return false;
    body = text.replace(/={1,2}$/, '');
    if (text.length - body.length !== (4 - (body.length % 4)) % 4) return false;
  }
  if (!/^[A-Za-z0-9_-]*$/.test(body) || body.length % 4 === 1) return false;
  const unused = { 0: 0, 2: 4, 3: 2 }[(body.length % 4) as 0 | 2 | 3];
  return body.length === 0 || (ALPHABET.indexOf(body.at(-1)!) & ((1 << unused) - 1)) === 0;
}

describe('base64url against a reference model (fast-check)', () => {
  const chars = fc.constantFrom(...ALPHABET, '=', '+', '/', ' ', '\n', '.', 'é', '\uFF21');
  const candidates = fc.oneof(
    fc.string({ unit: chars, maxLength: 12 }),
    fc
      .uint8Array({ maxLength: 12 })
      .chain((bytes) => {
        const text = encodeB64urlPadded(bytes);
        return fc
          .tuple(fc.nat(text.length), chars)
          .map(([at, c]) => [
            text,
            text.slice(0, at) + c + text.slice(at + 1),
            text.replace(/=+$/, ''),
          ]);
      })
      .chain((list) => fc.constantFrom(...list)),
  );

  it('the unpadded decoder accepts exactly the canonical texts, and decodes them right', () => {
    fc.assert(
      fc.property(candidates, (text) => {
        const bytes = tryDecodeB64url(text);
        expect(bytes !== undefined, JSON.stringify(text)).toBe(canonicalReference(text, false));
        if (bytes) expect(encodeB64url(bytes)).toBe(text);
      }),
      { numRuns: 2000 },
    );
  });

  it('the padded decoder accepts exactly the canonical padded texts', () => {
    fc.assert(
      fc.property(candidates, (text) => {
        const bytes = tryDecodeB64urlPadded(text);
        expect(bytes !== undefined, JSON.stringify(text)).toBe(canonicalReference(text, true));
        if (bytes) expect(encodeB64urlPadded(bytes)).toBe(text);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('the wrapped-DEK record (SPEC §2)', () => {
  it('decodes what encodeRecord writes', () => {
    const ref = 'tränsit/ключ🔑';
    const bytes = encodeRecord('aws-kms', ref, WRAPPED);
    expect(bytes[0]).toBe(1);
    expect(bytes[1]).toBe(7);
    expect(bytes.readUInt16BE(9)).toBe(Buffer.byteLength(ref));
    const record = decodeRecord(bytes);
    expect(record).toMatchObject({ providerId: 'aws-kms', keyRef: ref });
    expect(record.wrapped.equals(WRAPPED)).toBe(true);
  });

  it('accepts only record version 0x01', () => {
    for (let version = 0; version < 256; version++) {
      const bytes = Buffer.from(good);
      bytes[0] = version;
      if (version === 1) expect(decodeRecord(bytes).providerId).toBe('local');
      else formatErrorOf(() => decodeRecord(bytes));
    }
  });

  it('accepts provider ids of 1 to 32 characters of [a-z0-9-], nothing else', () => {
    for (const id of ['a', 'z', '0', '-', 'vault', 'aws-kms', 'x'.repeat(32), 'my-kms-2']) {
      expect(
        decodeRecord(recordBytes(1, Buffer.from(id), Buffer.from('k'), WRAPPED)).providerId,
      ).toBe(id);
    }
    formatErrorOf(() => decodeRecord(recordBytes(1, Buffer.alloc(0), Buffer.from('k'), WRAPPED)));
    formatErrorOf(() =>
      decodeRecord(recordBytes(1, Buffer.from('x'.repeat(33)), Buffer.from('k'), WRAPPED)),
    );
    const allowed = /^[a-z0-9-]$/;
    for (let byte = 0; byte < 256; byte++) {
      const id = Buffer.from('loc-l');
      id[2] = byte;
      const bytes = recordBytes(1, id, Buffer.from('k'), WRAPPED);
      if (allowed.test(String.fromCharCode(byte)))
        expect(decodeRecord(bytes).providerId).toBe(id.toString('latin1'));
      else formatErrorOf(() => decodeRecord(bytes));
    }
  });

  it('rejects a provider-id length that runs past the end', () => {
    for (let cut = 0; cut < 9; cut++) formatErrorOf(() => decodeRecord(good.subarray(0, cut)));
    const bytes = Buffer.from(good.subarray(0, 12));
    bytes[1] = 32;
    formatErrorOf(() => decodeRecord(bytes));
  });

  it('accepts key references of 0 to 1024 UTF-8 bytes, nothing longer', () => {
    for (const length of [0, 1, 16, 1023, 1024]) {
      const ref = Buffer.alloc(length, 'r');
      expect(decodeRecord(recordBytes(1, Buffer.from('vault'), ref, WRAPPED)).keyRef).toBe(
        ref.toString(),
      );
    }
    formatErrorOf(() =>
      decodeRecord(recordBytes(1, Buffer.from('vault'), Buffer.alloc(1025, 'r'), WRAPPED)),
    );
    formatErrorOf(() =>
      decodeRecord(recordBytes(1, Buffer.from('vault'), Buffer.alloc(0), WRAPPED, 0xffff)),
    );
  });

  it('rejects a key-reference length that runs past the end (no wrapped DEK left)', () => {
    // Declares 16 key bytes but holds 15 and no wrapped DEK, or 16 and no wrapped DEK.
    formatErrorOf(() =>
      decodeRecord(
        recordBytes(1, Buffer.from('local'), Buffer.alloc(15, 'a'), Buffer.alloc(0), 16),
      ),
    );
    formatErrorOf(() =>
      decodeRecord(recordBytes(1, Buffer.from('local'), Buffer.alloc(16, 'a'), Buffer.alloc(0))),
    );
    formatErrorOf(() =>
      decodeRecord(recordBytes(1, Buffer.from('local'), Buffer.alloc(0), WRAPPED, 61)),
    );
  });

  it('rejects a key reference that is not UTF-8', () => {
    for (const bad of [
      [0xff],
      [0xc3],
      [0xa0],
      [0xed, 0xa0, 0x80],
      [0xf8, 0x88, 0x80, 0x80, 0x80],
    ]) {
      formatErrorOf(() =>
        decodeRecord(recordBytes(1, Buffer.from('vault'), Buffer.from(bad), WRAPPED)),
      );
    }
  });

  it('accepts wrapped DEKs of 1 to 8192 bytes, not empty, not longer', () => {
    for (const length of [1, 60, 8192]) {
      const record = decodeRecord(
        recordBytes(1, Buffer.from('vault'), Buffer.from('k'), Buffer.alloc(length, 1)),
      );
      expect(record.wrapped.length).toBe(length);
    }
    for (const length of [0, 8193]) {
      formatErrorOf(() =>
        decodeRecord(
          recordBytes(1, Buffer.from('vault'), Buffer.from('k'), Buffer.alloc(length, 1)),
        ),
      );
    }
  });
});

describe('the token (SPEC §1)', () => {
  const token = tokenWith(good);

  it('parses prefix, kek part, salt and Fernet part', () => {
    const parsed = parseToken(token);
    expect(parsed.record).toMatchObject({ providerId: 'local', keyRef: '0123456789abcdef' });
    expect(parsed.salt.equals(SALT)).toBe(true);
    expect(parsed.fernet).toBe('gAAAAA==');
    expect(parsed.kekText).toBe(encodeB64url(good));
    expect(token.startsWith(TOKEN_PREFIX)).toBe(true);
    expect(token.split('|')[1]).toHaveLength(22);
  });

  it.each([
    ['cmek:v2:', 'v2'],
    ['cmek:v0:', 'v0'],
    ['cmek:v11:', 'v11'],
  ])('rejects the version prefix %s as unsupported', (prefix, version) => {
    const error = formatErrorOf(() => parseToken(prefix + token.slice(TOKEN_PREFIX.length)));
    expect(error.message).toContain(version);
  });

  it.each([
    ['cmek:', ''],
    ['cmek:v1', ''],
    ['cmek:V1:xyzw|y|z', 'xyzw'],
    ['cmek:v1|xyzw|y', 'xyzw'],
    ['cmek::v1:xyzw', 'xyzw'],
    ['cmek: v1:xyzw', 'xyzw'],
    ['legacy plaintext', 'legacy'],
    ['', ''],
  ])('rejects %j without echoing it', (text, fragment) => {
    const error = formatErrorOf(() => parseToken(text));
    if (fragment) expect(error.message).not.toContain(fragment);
  });

  it('never echoes what follows a bad prefix', () => {
    const error = formatErrorOf(() => parseToken('cmek:hunter2-the-password'));
    expect(error.message).not.toContain('hunter2');
  });

  it('needs exactly three parts', () => {
    const [kek, salt, fernet] = token.slice(TOKEN_PREFIX.length).split('|') as [
      string,
      string,
      string,
    ];
    for (const body of [
      kek,
      `${kek}|${salt}`,
      `${kek}|${salt}|${fernet}|`,
      `${kek}|${salt}||${fernet}`,
      '',
      '||',
      '|||',
    ]) {
      formatErrorOf(() => parseToken(TOKEN_PREFIX + body));
    }
  });

  it('needs a salt of exactly 16 bytes', () => {
    for (let n = 0; n <= 32; n++) {
      const candidate = tokenWith(good, Buffer.alloc(n, 0xb0));
      if (n === 16) expect(parseToken(candidate).salt).toHaveLength(16);
      else formatErrorOf(() => parseToken(candidate));
    }
  });

  it('leaves the Fernet part to the decryption step (SPEC §4)', () => {
    for (const fernet of ['', '+/+/', 'not base64 at all!', '=']) {
      expect(parseToken(tokenWith(good, SALT, fernet)).fernet).toBe(fernet);
    }
  });

  it('throws CmekInvalidInputError, not a TypeError, for a value that is not a string', () => {
    for (const value of [null, undefined, 42, {}, Buffer.from(token)]) {
      expect(() => parseToken(value as unknown as string)).toThrow(CmekInvalidInputError);
      expect(() => inspectToken(value as unknown as string)).toThrow(CmekInvalidInputError);
    }
  });
});

describe('inspect', () => {
  it('reports version, provider id, key reference and a DEK fingerprint, nothing secret', async () => {
    const env = createEnvelope({ kek: memoryProvider({ providerId: 'my-kms', keyRef: 'key/1' }) });
    const a = await env.encrypt('the secret value', { context: { field: 'users.email' } });
    const b = await env.encrypt('another');
    const info = env.inspect(a);
    expect(Object.keys(info).sort()).toEqual(['dekId', 'keyRef', 'providerId', 'version']);
    expect(info).toMatchObject({ version: 'v1', providerId: 'my-kms', keyRef: 'key/1' });
    expect(info.dekId).toMatch(/^[0-9a-f]{16}$/);
    expect(env.inspect(b).dekId).toBe(info.dekId);
    expect(inspectToken(a)).toEqual(info);
    const shown = JSON.stringify(info);
    for (const part of a.slice(TOKEN_PREFIX.length).split('|')) expect(shown).not.toContain(part);
    expect(shown).not.toContain('secret');
    await env.close();
  });

  it('gives another fingerprint for another DEK', async () => {
    const env = createEnvelope({ kek: memoryProvider(), dekCache: false });
    const a = await env.encrypt('x');
    const b = await env.encrypt('x');
    expect(env.inspect(a).dekId).not.toBe(env.inspect(b).dekId);
    await env.close();
  });

  it('reads any provider without holding its key', () => {
    const info = inspectToken(
      tokenWith(encodeRecord('vault', 'transit/app', Buffer.from('vault:v3:abc'))),
    );
    expect(info).toMatchObject({ providerId: 'vault', keyRef: 'transit/app' });
  });

  it('throws CmekFormatError for legacy plaintext and malformed tokens', async () => {
    const env = createEnvelope({ kek: memoryProvider() });
    for (const value of ['plain text', 'cmek:v2:x|y|z', tokenWith(good).replace('|', '+|')]) {
      const error = formatErrorOf(() => env.inspect(value));
      expect(CmekError.isInstance(error)).toBe(true);
    }
    await env.close();
  });
});

describe('isEncrypted', () => {
  it('is true for any string that starts with cmek: (a future version too) or a damaged prefix, false otherwise', async () => {
    const env = createEnvelope({ kek: memoryProvider() });
    const token = await env.encrypt('x');
    expect(env.isEncrypted(token)).toBe(true);
    expect(env.isEncrypted('cmek:v2:whatever')).toBe(true);
    expect(env.isEncrypted('cmek:')).toBe(true);
    // Issue 19: a damaged prefix is still a token (decrypt refuses it with CMEK_FORMAT).
    for (const value of ['CMEK:v1:x', ' cmek:v1:x', 'cmek', 'CMEK', `#${token.slice(1)}`]) {
      expect(env.isEncrypted(value), value.slice(0, 12)).toBe(true);
    }
    for (const value of [
      'cme',
      'cm',
      'a cmek:v1:x',
      '',
      null,
      undefined,
      1,
      Buffer.from('cmek:v1:'),
    ]) {
      expect(env.isEncrypted(value)).toBe(false);
    }
    await env.close();
  });
});
