/**
 * Property tests (fast-check): round trips over arbitrary strings, bytes and contexts; a value is
 * bound to its context; and no single change to a token yields a plaintext or a non-cmek error.
 */
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeB64url, encodeB64urlPadded } from '../src/base64url';
import {
  CmekDecryptionError,
  CmekFormatError,
  CmekInvalidInputError,
  CmekUnknownKekError,
  createEnvelope,
  type EncryptionContext,
} from '../src/index';
import { TOKEN_PREFIX } from '../src/token';
import { vectorKek } from './vectors/local-kek';

const RUNS = 300;
const env = createEnvelope({ kek: vectorKek({ kek: Buffer.alloc(32, 0x42) }) });
afterAll(() => env.close());

/** Full Unicode: every code point, astral ones included (well-formed UTF-16; see the note below). */
const text = (maxLength = 40) => fc.string({ unit: 'binary', maxLength });
const context: fc.Arbitrary<EncryptionContext> = fc.dictionary(
  fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }),
  text(20),
  { maxKeys: 5 },
);

function sameContext(a: EncryptionContext, b: EncryptionContext): boolean {
  const entries = (c: EncryptionContext) => JSON.stringify(Object.entries(c).sort());
  return entries(a) === entries(b);
}

async function outcome(
  run: () => Promise<unknown>,
): Promise<{ value: unknown } | { error: unknown }> {
  try {
    return { value: await run() };
  } catch (error) {
    return { error };
  }
}

/** The classes a damaged token may fail with; anything else (or a value) breaks the property. */
function isTokenFailure(error: unknown): boolean {
  return (
    CmekDecryptionError.isInstance(error) ||
    CmekFormatError.isInstance(error) ||
    CmekUnknownKekError.isInstance(error)
  );
}

/** What a token truncated to fewer than four characters is: indistinguishable from a plaintext. */
const SHORT_PLAINTEXTS = new Set(['', 'c', 'cm', 'cme']);

/**
 * Decrypts a damaged token under the default policy `allow`. It must fail with a token failure
 * (issue 19: a token whose prefix was damaged has the shape of a token, so it is a format error,
 * never legacy plaintext), and `isEncrypted` must say it is a token; only a truncation to fewer
 * than four characters reads back as the stored string. Under `reject` and `warn` the error is
 * the same.
 */
async function expectRejected(damaged: string, ctx: EncryptionContext): Promise<void> {
  const result = await outcome(() => env.decrypt(damaged, { context: ctx }));
  if (SHORT_PLAINTEXTS.has(damaged)) {
    expect(result).toEqual({ value: damaged });
    return;
  }
  expect('error' in result, `decrypted a damaged token to ${JSON.stringify(result)}`).toBe(true);
  const { error } = result as { error: unknown };
  expect(isTokenFailure(error), String(error)).toBe(true);
  expect(env.isEncrypted(damaged)).toBe(true);
  if (!damaged.startsWith('cmek:')) {
    for (const plaintextPolicy of ['warn', 'reject'] as const) {
      const other = await outcome(() => env.decrypt(damaged, { context: ctx, plaintextPolicy }));
      expect(CmekFormatError.isInstance((other as { error?: unknown }).error)).toBe(true);
    }
  }
}

describe('round trips', () => {
  it('any string, under any context', async () => {
    await fc.assert(
      fc.asyncProperty(text(200), context, async (value, ctx) => {
        const token = await env.encrypt(value, { context: ctx });
        expect(token.startsWith(TOKEN_PREFIX)).toBe(true);
        expect(await env.decrypt(token, { context: ctx })).toBe(value);
      }),
      { numRuns: RUNS },
    );
  });

  it('any UTF-8 bytes, through decryptBytes and decrypt; any other bytes are refused', async () => {
    await fc.assert(
      fc.asyncProperty(text(100), context, async (value, ctx) => {
        const bytes = new Uint8Array(Buffer.from(value, 'utf8'));
        const token = await env.encrypt(bytes, { context: ctx });
        const back = await env.decryptBytes(token, { context: ctx });
        expect(back).toBeInstanceOf(Uint8Array);
        expect(Buffer.from(back).equals(Buffer.from(bytes))).toBe(true);
        expect(await env.decrypt(token, { context: ctx })).toBe(value);
      }),
      { numRuns: RUNS },
    );
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), context, async (bytes, ctx) => {
        fc.pre(!isUtf8(bytes));
        const error = await env.encrypt(bytes, { context: ctx }).catch((e: unknown) => e);
        expect(CmekInvalidInputError.isInstance(error)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('the context is independent of key order', async () => {
    await fc.assert(
      fc.asyncProperty(text(), context, async (value, ctx) => {
        const token = await env.encrypt(value, { context: ctx });
        const reversed = Object.fromEntries(Object.entries(ctx).reverse());
        expect(await env.decrypt(token, { context: reversed })).toBe(value);
      }),
      { numRuns: 100 },
    );
  });

  it('batches: encryptMany then decryptMany, nulls in place', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.option(text(), { nil: null }), { maxLength: 20 }),
        context,
        async (values, ctx) => {
          const tokens = await env.encryptMany(values, { context: ctx });
          expect(tokens.map((t) => t === null)).toEqual(values.map((v) => v === null));
          expect(await env.decryptMany(tokens, { context: ctx })).toEqual(values);
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('the context is authenticated', () => {
  it('a value does not decrypt under any other context', async () => {
    await fc.assert(
      fc.asyncProperty(text(), context, context, async (value, written, read) => {
        fc.pre(!sameContext(written, read));
        const token = await env.encrypt(value, { context: written });
        const result = await outcome(() => env.decrypt(token, { context: read }));
        expect('error' in result && CmekDecryptionError.isInstance(result.error)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('nor under the same context with one value or key changed by one character', async () => {
    await fc.assert(
      fc.asyncProperty(
        text(),
        context.filter((c) => Object.keys(c).length > 0),
        fc.nat(),
        fc.boolean(),
        fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
        async (value, written, pick, changeKey, extra) => {
          const entries = Object.entries(written);
          const index = pick % entries.length;
          const [key, v] = entries[index]!;
          const changed = changeKey ? [key + extra, v] : [key, v + extra];
          const read = Object.fromEntries(entries.map((e, i) => (i === index ? changed : e)));
          fc.pre(!sameContext(written, read));
          const token = await env.encrypt(value, { context: written });
          const result = await outcome(() => env.decrypt(token, { context: read }));
          expect('error' in result && CmekDecryptionError.isInstance(result.error)).toBe(true);
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('a damaged token never decrypts', () => {
  // Characters worth trying: the base64url alphabet, its near misses, the separators, whitespace,
  // and anything else in Unicode.
  const replacement = fc.oneof(
    fc.constantFrom(
      ...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_',
      '+',
      '/',
      '=',
      '|',
      ':',
      ' ',
      '\n',
      '\t',
      '\u0000',
      'é',
    ),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
  );
  const plaintextAndContext = fc.tuple(text(60), context);

  it('any single character replaced, at any position', async () => {
    await fc.assert(
      fc.asyncProperty(
        plaintextAndContext,
        fc.nat(),
        replacement,
        async ([value, ctx], at, char) => {
          const token = await env.encrypt(value, { context: ctx });
          const position = at % token.length;
          fc.pre(token[position] !== char);
          const damaged = token.slice(0, position) + char + token.slice(position + 1);
          await expectRejected(damaged, ctx);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('any single byte of the record, salt or Fernet bytes changed (re-encoded canonically)', async () => {
    await fc.assert(
      fc.asyncProperty(
        plaintextAndContext,
        fc.constantFrom(0, 1, 2),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        async ([value, ctx], part, at, mask) => {
          const token = await env.encrypt(value, { context: ctx });
          const parts = token.slice(TOKEN_PREFIX.length).split('|');
          const bytes = Buffer.from(parts[part]!, 'base64url');
          bytes[at % bytes.length]! ^= mask;
          parts[part] = part === 2 ? encodeB64urlPadded(bytes) : encodeB64url(bytes);
          await expectRejected(TOKEN_PREFIX + parts.join('|'), ctx);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('any character deleted or inserted, any prefix of it', async () => {
    await fc.assert(
      fc.asyncProperty(
        plaintextAndContext,
        fc.nat(),
        replacement,
        fc.constantFrom('delete', 'insert', 'truncate'),
        async ([value, ctx], at, char, kind) => {
          const token = await env.encrypt(value, { context: ctx });
          const position = at % token.length;
          const damaged =
            kind === 'delete'
              ? token.slice(0, position) + token.slice(position + 1)
              : kind === 'insert'
                ? token.slice(0, position) + char + token.slice(position)
                : token.slice(0, position);
          // e.g. '=' appended after the padded Fernet part: the same bytes to a lax decoder.
          await expectRejected(damaged, ctx);
        },
      ),
      { numRuns: 500 },
    );
  });
});
