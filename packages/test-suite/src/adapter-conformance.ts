/**
 * The conformance suite every ORM adapter runs (Sequelize, Knex, Mongoose, third parties): what
 * is stored is a `cmek:v1:` token bound to its field, what is read is the plaintext, and a
 * query the database cannot answer on ciphertext is refused.
 *
 * The adapter's own tests cover each of its ORM's write and read paths; this suite checks the
 * properties every adapter shares through a small {@link AdapterHarness}, always comparing
 * what the ORM returns with what the database really holds ({@link AdapterSession.rawRow}).
 *
 * It registers tests with the runner functions the caller passes in (`{ describe, it,
 * beforeAll, afterAll }`, e.g. vitest's) and asserts with `node:assert/strict`, so it loads no
 * test runner itself.
 *
 * ```ts
 * import { describe, it, beforeAll, afterAll } from 'vitest';
 * import { adapterConformanceSuite } from '@cmek/test-suite';
 *
 * adapterConformanceSuite({ describe, it, beforeAll, afterAll }, {
 *   async setup() {
 *     // create the table / model with two encrypted text fields, return the session
 *     return session;
 *   },
 *   async cleanup(session) { ... },
 * }, { name: 'knex (postgres) adapter conformance' });
 * ```
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  type BlindIndexer,
  type BlindIndexOptions,
  blindIndexLabel,
  CmekConfigError,
  CmekDecryptionError,
  CmekError,
  type CmekErrorCode,
  CmekQueryError,
  type EncryptionContext,
  type Envelope,
} from '@cmek/core';
import { type GroupSelection, selectGroups } from './groups';
import type { TestApi, TestBody } from './test-api';

/**
 * The adapter suite's groups, in the order they register (one test each). The names are stable:
 * a new check joins an existing group or gets a new name; a name is never reused.
 */
export const ADAPTER_GROUPS = [
  'insert',
  'insert-many',
  'read-all',
  'update',
  'null',
  'empty-string',
  'unicode',
  'large-value',
  'no-double-encryption',
  'foreign-token',
  'copied-token',
  'query-guard',
  'blind-index',
] as const;

/** The name of one group of the adapter suite (see {@link ADAPTER_GROUPS}). */
export type AdapterGroup = (typeof ADAPTER_GROUPS)[number];

/** A primary-key value as the adapter returns it (compared as strings: `7` equals `'7'`). */
export type RowId = string | number;

/** The values of the store's encrypted fields, keyed by field name; `null` is SQL NULL / absent. */
export type FieldValues = Readonly<Record<string, string | null>>;

/**
 * One store (table, model, collection) under test, opened by {@link AdapterHarness.setup}. It
 * has a primary key and the two encrypted text fields named in {@link fields}, both unbounded
 * (TEXT or equivalent: the suite writes 64 KiB values) and nullable. Every row the suite writes
 * sets both fields (to a string or `null`).
 */
export interface AdapterSession {
  /** The envelope the adapter encrypts and decrypts with (the suite inspects and decrypts tokens). */
  readonly envelope: Envelope;
  /** The names of two encrypted fields, as the ORM user writes them (`['secret', 'note']`). */
  readonly fields: readonly [string, string];
  /** The encryption context the adapter binds a field's values to (`{ field: 'Model.secret' }`). */
  contextFor(field: string): EncryptionContext;
  /** Inserts one row through the ORM (its ordinary create path); returns its primary key. */
  insert(values: FieldValues): Promise<RowId>;
  /** Inserts several rows through the ORM's batch path; returns their keys, in order. */
  insertMany(rows: readonly FieldValues[]): Promise<RowId[]>;
  /** Updates only the fields in `patch` through the ORM (its ordinary update path). */
  update(id: RowId, patch: FieldValues): Promise<void>;
  /** Reads one row through the ORM, decrypted: both fields; `null` if there is no such row. */
  read(id: RowId): Promise<FieldValues | null>;
  /** Reads every row of the store through the ORM's multi-row path, decrypted. */
  readAll(): Promise<{ id: RowId; values: FieldValues }[]>;
  /** The stored values of both fields, read around the ORM (a plain SQL query or driver call). */
  rawRow(id: RowId): Promise<FieldValues | null>;
  /** Writes stored values around the ORM, bypassing the adapter (to plant a foreign token). */
  writeRaw(id: RowId, values: FieldValues): Promise<void>;
  /**
   * Runs a query through the ORM that filters on the encrypted `field` (`where field = value`
   * or the ORM's equivalent). The adapter must reject it with `CmekQueryError`.
   */
  whereOnEncrypted(field: string, value: string): Promise<unknown>;
  /**
   * The blind-indexed field, for the `blind-index` group: required when the harness declares
   * `blindIndex: true`, ignored otherwise.
   */
  readonly blindIndex?: BlindIndexSession;
}

/**
 * A third encrypted field with a blind index (group `blind-index`): not one of
 * {@link AdapterSession.fields}, nullable, left null by the other groups. `insert`, `insertMany`
 * and `update` take it beside the two fields. Its index column has a unique constraint that lets
 * several rows hold null (SQL's UNIQUE does; in MongoDB, a partial or sparse unique index).
 */
export interface BlindIndexSession {
  /** The field's name, as the ORM user writes it (`'tokenHash'`). */
  readonly field: string;
  /** The field's index options, as the adapter was configured (`column`, `normalize`, `mode`, `key`). */
  readonly index: BlindIndexOptions;
  /** The indexer the adapter computes index values with. */
  readonly indexer: BlindIndexer;
  /** Finds rows through the ORM with an equality filter on the field; their primary keys. */
  findBy(value: string): Promise<RowId[]>;
  /** Finds rows through the ORM with an `IN` filter on the field (`Op.in`, `whereIn`, `$in`). */
  findIn(values: readonly string[]): Promise<RowId[]>;
  /** The stored value of the field and of its index column, read around the ORM. */
  rawIndexed(id: RowId): Promise<{ value: string | null; index: string | null } | null>;
}
export interface AdapterHarness {
  /**
   * Opens the store once, before the suite's tests (in `beforeAll`): creates the table, the
   * model and the envelope. The store may already hold rows; the suite only reads its own.
   */
  setup(): Promise<AdapterSession>;
  /** Runs once after the suite's tests (in `afterAll`): drop the table, close connections. */
  cleanup?(session: AdapterSession): Promise<void> | void;
  /**
   * `true`: the session has a {@link AdapterSession.blindIndex}, and the `blind-index` group runs.
   * Default `false`: the group registers no test (naming it in `only` throws).
   */
  readonly blindIndex?: boolean;
}

export interface AdapterConformanceOptions {
  /** The name of the `describe` block. Default `ORM adapter conformance`. */
  name?: string;
  /** Per-test (and hook) timeout passed to the runner. Default: the runner's own. */
  timeoutMs?: number;
  /**
   * Groups switched off: their tests are not registered at all. Unknown names throw when the
   * suite is registered. Default: none.
   */
  skip?: readonly AdapterGroup[];
  /** Only these groups are registered (then `skip` removes from them). Default: every group. */
  only?: readonly AdapterGroup[];
}

const TOKEN_PREFIX = 'cmek:v1:';

/** Text that exercises UTF-8: 2-, 3- and 4-byte sequences, combining marks, RTL, emoji ZWJ. */
export const UNICODE_SAMPLE = 'päss wörd — 秘密の鍵 🔑👩‍💻 שלום é é ﬁ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢';

function label(value: string | null): string {
  return value === null ? 'null' : `a ${value.length}-character string`;
}

async function expectError(
  what: string,
  run: () => Promise<unknown>,
  code: CmekErrorCode,
): Promise<CmekError> {
  try {
    await run();
  } catch (error) {
    if (!CmekError.isInstance(error)) {
      const name = error instanceof Error ? `${error.name}: ${error.message}` : typeof error;
      return assert.fail(`${what}: expected a CmekError with code ${code}, got ${name}`);
    }
    assert.equal(
      error.code,
      code,
      `${what}: expected ${code}, got ${error.code} (${error.message})`,
    );
    return error;
  }
  return assert.fail(`${what}: resolved instead of rejecting with ${code}`);
}

/** The shared assertions over one session. */
class Checks {
  constructor(readonly s: AdapterSession) {}

  /** A raw stored value is a well-formed token that decrypts, under the field, to `plaintext`. */
  async storedAs(id: RowId, field: string, plaintext: string | null): Promise<string | null> {
    const raw = await this.s.rawRow(id);
    assert.ok(raw, `row ${id}: rawRow found no row`);
    const stored = raw[field];
    assert.notEqual(stored, undefined, `row ${id}: rawRow has no value for ${field}`);
    if (plaintext === null) {
      assert.equal(
        stored,
        null,
        `row ${id}: ${field} was written as null but ${label(stored ?? null)} is stored`,
      );
      return null;
    }
    assert.equal(typeof stored, 'string', `row ${id}: ${field} holds ${label(stored ?? null)}`);
    const token = stored as string;
    assert.ok(
      token.startsWith(TOKEN_PREFIX),
      `row ${id}: ${field} is stored without encryption (it does not start with ${TOKEN_PREFIX})`,
    );
    if (plaintext.length > 0) {
      assert.ok(
        !token.includes(plaintext),
        `row ${id}: the stored ${field} contains the plaintext`,
      );
    }
    const info = this.s.envelope.inspect(token);
    assert.equal(info.version, 'v1');
    const opened = await this.s.envelope.decrypt(token, { context: this.s.contextFor(field) });
    assert.equal(
      opened,
      plaintext,
      `row ${id}: the token stored in ${field} does not decrypt, under the field's context, to the value written`,
    );
    return token;
  }

  async readsAs(id: RowId, expected: FieldValues): Promise<void> {
    const row = await this.s.read(id);
    assert.ok(row, `row ${id}: read found no row`);
    for (const [field, value] of Object.entries(expected)) {
      assert.equal(row[field], value, `row ${id}: read returned a different ${field}`);
    }
  }

  async roundTrip(values: FieldValues): Promise<RowId> {
    const id = await this.s.insert(values);
    for (const [field, value] of Object.entries(values)) await this.storedAs(id, field, value);
    await this.readsAs(id, values);
    return id;
  }
}

/**
 * Registers the adapter conformance tests under one `describe`. The checks:
 *
 * - insert, insertMany and update store `cmek:v1:` tokens that `envelope.inspect` accepts and
 *   that decrypt under the field's context to the value written; reads return the plaintext;
 *   an update leaves the other field's stored token untouched;
 * - `null` stays `null` (never encrypted), the empty string is encrypted, unicode and a
 *   64 KiB value round-trip;
 * - nothing is encrypted twice: writing a value that already is a token of that field (read
 *   from the database, or made by the envelope under the field's context) stores a value that
 *   decrypts to the original plaintext, not to the token;
 * - another field's token written through the ORM is either refused with a `CmekError` or
 *   treated as an ordinary string (encrypted, reading back as that string): never stored as
 *   is, where it would be unreadable;
 * - a token copied, around the ORM, from one field into another fails to read with
 *   `CmekDecryptionError` (the ciphertext is bound to its field);
 * - a query filtering on an encrypted field rejects with `CmekQueryError` naming the field and
 *   not echoing the value.
 *
 * Each check is a group of {@link ADAPTER_GROUPS}; `options.skip` / `options.only` switch groups
 * off, and a group switched off is not registered at all.
 */
export function adapterConformanceSuite(
  test: TestApi,
  harness: AdapterHarness,
  options: AdapterConformanceOptions = {},
): void {
  const timeout = options.timeoutMs;
  const selection: GroupSelection<AdapterGroup> = { skip: options.skip, only: options.only };
  const enabled = new Set(selectGroups('adapterConformanceSuite', ADAPTER_GROUPS, selection));
  if (harness.blindIndex !== true) {
    if (options.only?.includes('blind-index')) {
      throw new CmekConfigError(
        "adapterConformanceSuite: options.only names 'blind-index' but the harness does not declare blindIndex: true",
      );
    }
    enabled.delete('blind-index');
    if (enabled.size === 0) {
      throw new CmekConfigError(
        'adapterConformanceSuite: options.skip / options.only switch off every group, so nothing would be tested',
      );
    }
  }
  let session: AdapterSession | undefined;

  /** Registers the test of one group, unless it is switched off (then nothing is registered). */
  const group = (name: AdapterGroup, register: () => void): void => {
    if (enabled.has(name)) register();
  };

  const it = (name: string, body: (checks: Checks, s: AdapterSession) => Promise<void>): void => {
    const run: TestBody = async () => {
      assert.ok(session, 'the harness setup did not run or failed');
      await body(new Checks(session), session);
    };
    if (timeout === undefined) test.it(name, run);
    else test.it(name, run, timeout);
  };

  test.describe(options.name ?? 'ORM adapter conformance', () => {
    assert.ok(test.beforeAll, 'adapterConformanceSuite needs beforeAll in the test API');
    test.beforeAll(async () => {
      session = await harness.setup();
      assert.ok(session?.envelope, 'the harness session has no envelope');
      assert.equal(session.fields.length, 2, 'the harness session must name two encrypted fields');
      assert.notEqual(session.fields[0], session.fields[1], 'the two fields must differ');
      if (enabled.has('blind-index')) {
        assert.ok(session.blindIndex, 'the harness declares blindIndex but its session has none');
        assert.ok(
          !session.fields.includes(session.blindIndex.field),
          'the indexed field must be a third field',
        );
      }
    }, timeout);
    if (harness.cleanup !== undefined) {
      assert.ok(test.afterAll, 'harness.cleanup needs afterAll in the test API');
      const cleanup = harness.cleanup.bind(harness);
      test.afterAll(async () => {
        if (session) await cleanup(session);
      }, timeout);
    }

    group('insert', () =>
      it('insert stores field-bound tokens and reads return the plaintext', async (c, s) => {
        const [a, b] = s.fields;
        const ta = await c.storedAs(
          await c.roundTrip({ [a]: 'xoxb-first', [b]: 'second' }),
          a,
          'xoxb-first',
        );
        const id2 = await c.roundTrip({ [a]: 'xoxb-first', [b]: 'other' });
        const ta2 = await c.storedAs(id2, a, 'xoxb-first');
        assert.notEqual(
          ta,
          ta2,
          'the same plaintext written twice gave the same token (no fresh salt)',
        );
      }),
    );

    group('insert-many', () =>
      it('insertMany stores tokens for every row', async (c, s) => {
        const [a, b] = s.fields;
        const rows = Array.from({ length: 5 }, (_, i) => ({
          [a]: `batch-a-${i}`,
          [b]: i % 2 === 0 ? `batch-b-${i}` : null,
        }));
        const ids = await s.insertMany(rows);
        assert.equal(ids.length, rows.length, 'insertMany returned a key per row');
        for (const [i, id] of ids.entries()) {
          await c.storedAs(id, a, rows[i]![a]!);
          await c.storedAs(id, b, rows[i]![b]!);
          await c.readsAs(id, rows[i]!);
        }
      }),
    );

    group('read-all', () =>
      it('readAll decrypts every row', async (c, s) => {
        const [a, b] = s.fields;
        const written = [
          { [a]: 'all-1', [b]: UNICODE_SAMPLE },
          { [a]: '', [b]: null },
        ];
        const ids = await Promise.all(written.map((row) => s.insert(row)));
        const all = await s.readAll();
        for (const [i, id] of ids.entries()) {
          await c.storedAs(id, a, written[i]![a]!);
          const found = all.find((row) => String(row.id) === String(id));
          assert.ok(found, `readAll did not return row ${id}`);
          assert.equal(found.values[a], written[i]![a], `readAll: row ${id} ${a}`);
          assert.equal(found.values[b], written[i]![b], `readAll: row ${id} ${b}`);
        }
        for (const row of all) {
          for (const field of s.fields) {
            const value = row.values[field];
            assert.ok(
              value === null || value === undefined || !value.startsWith(TOKEN_PREFIX),
              `readAll returned a token for ${field} of row ${row.id}`,
            );
          }
        }
      }),
    );

    group('update', () =>
      it('update stores a new token and leaves the other field untouched', async (c, s) => {
        const [a, b] = s.fields;
        const id = await c.roundTrip({ [a]: 'before', [b]: 'kept' });
        const beforeA = await c.storedAs(id, a, 'before');
        const beforeB = await c.storedAs(id, b, 'kept');
        await s.update(id, { [a]: 'after' });
        const afterA = await c.storedAs(id, a, 'after');
        assert.notEqual(afterA, beforeA);
        assert.equal(await c.storedAs(id, b, 'kept'), beforeB, `the update rewrote ${b}`);
        await c.readsAs(id, { [a]: 'after', [b]: 'kept' });
      }),
    );

    group('null', () =>
      it('null stays null, on insert and on update', async (c, s) => {
        const [a, b] = s.fields;
        const id = await c.roundTrip({ [a]: null, [b]: 'not null' });
        await s.update(id, { [b]: null, [a]: 'now set' });
        await c.storedAs(id, b, null);
        await c.storedAs(id, a, 'now set');
        await c.readsAs(id, { [a]: 'now set', [b]: null });
      }),
    );

    group('empty-string', () =>
      it('the empty string is encrypted', async (c, s) => {
        const [a, b] = s.fields;
        const id = await c.roundTrip({ [a]: '', [b]: '' });
        await s.update(id, { [b]: 'x' });
        await s.update(id, { [b]: '' });
        await c.storedAs(id, b, '');
        await c.readsAs(id, { [a]: '', [b]: '' });
      }),
    );

    group('unicode', () =>
      it('unicode round-trips', async (c, s) => {
        const [a, b] = s.fields;
        const id = await c.roundTrip({ [a]: UNICODE_SAMPLE, [b]: `${UNICODE_SAMPLE}\n\t"'\\` });
        await s.update(id, { [a]: [...UNICODE_SAMPLE].reverse().join('') });
        await c.storedAs(id, a, [...UNICODE_SAMPLE].reverse().join(''));
      }),
    );

    group('large-value', () =>
      it('a 64 KiB value round-trips', async (c, s) => {
        const [a, b] = s.fields;
        const big = randomBytes(48 * 1024).toString('base64');
        assert.equal(big.length, 64 * 1024);
        const bigUnicode = '鍵'.repeat((64 * 1024) / 3);
        const id = await c.roundTrip({ [a]: big, [b]: bigUnicode });
        // With the insert-many group switched off the adapter may have no batch path.
        if (enabled.has('insert-many')) {
          const [one] = await s.insertMany([{ [a]: bigUnicode, [b]: big }]);
          await c.storedAs(one!, a, bigUnicode);
          await c.readsAs(one!, { [a]: bigUnicode, [b]: big });
        }
        await s.update(id, { [a]: `${big}!` });
        await c.storedAs(id, a, `${big}!`);
      }),
    );

    group('no-double-encryption', () =>
      it('a token of the field is not encrypted again', async (c, s) => {
        const [a, b] = s.fields;
        const id = await c.roundTrip({ [a]: 'only once', [b]: null });
        const stored = (await c.storedAs(id, a, 'only once'))!;
        // Writing back what the database holds (a copy from another row, a re-save of raw data).
        await s.update(id, { [a]: stored });
        await c.storedAs(id, a, 'only once');
        await c.readsAs(id, { [a]: 'only once' });
        const other = await s.insert({ [a]: stored, [b]: null });
        await c.storedAs(other, a, 'only once');
        await c.readsAs(other, { [a]: 'only once' });
        // A token made by the application under the field's context.
        const made = await s.envelope.encrypt('made by the app', { context: s.contextFor(a) });
        const third = await s.insert({ [a]: made, [b]: null });
        await c.storedAs(third, a, 'made by the app');
        await c.readsAs(third, { [a]: 'made by the app' });
      }),
    );

    group('foreign-token', () =>
      it("another field's token written through the ORM is refused or encrypted as a string", async (c, s) => {
        const [a, b] = s.fields;
        const foreign = await s.envelope.encrypt('belongs to a', { context: s.contextFor(a) });
        let id: RowId | undefined;
        try {
          id = await s.insert({ [a]: null, [b]: foreign });
        } catch (error) {
          assert.ok(
            CmekError.isInstance(error),
            `writing another field's token failed with a non-cmek error: ${String(error)}`,
          );
          assert.ok(!error.message.includes(foreign), 'the error message contains the whole token');
          return;
        }
        const raw = await s.rawRow(id);
        try {
          assert.notEqual(
            raw?.[b],
            foreign,
            `another field's token was stored as is in ${b}, where it can never be read`,
          );
          await c.storedAs(id, b, foreign);
          await c.readsAs(id, { [b]: foreign });
        } finally {
          if (raw?.[b] === foreign) await s.writeRaw(id, { [b]: null });
        }
      }),
    );

    group('copied-token', () =>
      it("a token copied into another field's column does not decrypt", async (c, s) => {
        const [a, b] = s.fields;
        const id = await c.roundTrip({ [a]: 'secret of a', [b]: 'secret of b' });
        const ta = (await c.storedAs(id, a, 'secret of a'))!;
        const tb = (await c.storedAs(id, b, 'secret of b'))!;
        await s.writeRaw(id, { [b]: ta });
        try {
          assert.equal((await s.rawRow(id))?.[b], ta, 'writeRaw did not store the value');
          await expectError(
            `reading ${b} holding a token of ${a}`,
            () => s.read(id),
            CmekDecryptionError.code,
          );
          await expectError(
            `decrypting a token of ${a} under ${b}'s context`,
            () => s.envelope.decrypt(ta, { context: s.contextFor(b) }),
            CmekDecryptionError.code,
          );
        } finally {
          await s.writeRaw(id, { [b]: tb });
        }
        await c.readsAs(id, { [a]: 'secret of a', [b]: 'secret of b' });
      }),
    );

    group('query-guard', () =>
      it('a query filtering on an encrypted field throws CmekQueryError naming the field', async (_c, s) => {
        for (const field of s.fields) {
          const value = `needle-${field}-${randomBytes(6).toString('hex')}`;
          const error = await expectError(
            `a where on ${field}`,
            () => s.whereOnEncrypted(field, value),
            CmekQueryError.code,
          );
          assert.ok(
            (error as CmekQueryError).field.includes(field) || error.message.includes(field),
            `the CmekQueryError does not name ${field}`,
          );
          assert.ok(!error.message.includes(value), 'the CmekQueryError message echoes the value');
        }
      }),
    );

    group('blind-index', () =>
      it('a blind index is kept in step on every write, finds the row, and is unique', async (c, s) => {
        const bi = s.blindIndex!;
        const [a, b] = s.fields;
        const f = bi.field;
        const label = blindIndexLabel(s.contextFor(f), f);
        const indexOf = (value: string) => bi.indexer.compute(label, value, bi.index);
        const run = randomBytes(6).toString('hex');
        const secret = (name: string) => `bidx-${name}-${run}`;
        const indexed = async (id: RowId, plaintext: string | null, what: string) => {
          const raw = await bi.rawIndexed(id);
          assert.ok(raw, `${what}: rawIndexed found no row ${id}`);
          if (plaintext === null) {
            assert.equal(raw.value, null, `${what}: ${f} was written as null`);
            assert.equal(raw.index, null, `${what}: ${f} is null but its index column is not`);
            return;
          }
          for (const [column, stored] of [
            [f, raw.value],
            [bi.index.column, raw.index],
          ] as const) {
            assert.equal(typeof stored, 'string', `${what}: ${column} holds no string`);
            assert.ok(!stored!.includes(plaintext), `${what}: ${column} holds the plaintext`);
          }
          assert.ok(raw.value!.startsWith(TOKEN_PREFIX), `${what}: ${f} is not encrypted`);
          assert.equal(
            await s.envelope.decrypt(raw.value, { context: s.contextFor(f) }),
            plaintext,
            `${what}: ${f} does not decrypt to the value written`,
          );
          assert.equal(
            raw.index,
            indexOf(plaintext),
            `${what}: the index column does not hold the index of the value written`,
          );
        };
        const same = (found: readonly RowId[], want: readonly RowId[], what: string) =>
          assert.deepEqual(found.map(String).sort(), want.map(String).sort(), what);

        // insert, insertMany
        const one = await s.insert({ [a]: 'with index', [b]: null, [f]: secret('one') });
        await indexed(one, secret('one'), 'insert');
        await c.storedAs(one, a, 'with index');
        const batch = enabled.has('insert-many')
          ? await s.insertMany([
              { [a]: 'x', [b]: null, [f]: secret('two') },
              { [a]: 'y', [b]: null, [f]: null },
            ])
          : [];
        if (batch.length > 0) {
          await indexed(batch[0]!, secret('two'), 'insertMany');
          await indexed(batch[1]!, null, 'insertMany');
        }
        // equality and IN lookups find exactly the rows
        same(await bi.findBy(secret('one')), [one], `a lookup by ${f} = value`);
        same(await bi.findBy(secret('absent')), [], `a lookup of a value no row holds`);
        same(
          await bi.findIn([secret('one'), secret('two'), secret('absent')]),
          [one, ...batch.slice(0, 1)],
          `a lookup by ${f} IN (values)`,
        );
        // update: a new value moves the index; another field leaves it; null clears it
        await s.update(one, { [f]: secret('one-b') });
        await indexed(one, secret('one-b'), 'update');
        same(await bi.findBy(secret('one')), [], 'a lookup of the value before the update');
        same(await bi.findBy(secret('one-b')), [one], 'a lookup of the value after the update');
        const before = (await bi.rawIndexed(one))!.index;
        await s.update(one, { [a]: 'changed' });
        assert.equal(
          (await bi.rawIndexed(one))!.index,
          before,
          `an update of ${a} changed the index`,
        );
        await s.update(one, { [f]: null });
        await indexed(one, null, 'update to null');
        // the unique constraint on the index column rejects a duplicate secret
        await s.update(one, { [f]: secret('unique') });
        let duplicate: RowId | undefined;
        try {
          duplicate = await s.insert({ [a]: null, [b]: null, [f]: secret('unique') });
        } catch (error) {
          const text = error instanceof Error ? error.message : String(error);
          assert.ok(
            !text.includes(secret('unique')),
            'the duplicate error message holds the secret',
          );
        }
        assert.equal(duplicate, undefined, `a second row with the same ${f} was stored`);
        same(await bi.findBy(secret('unique')), [one], 'the lookup after the refused duplicate');
      }),
    );
  });
}
