/**
 * The KEK-call summary of `backfill`, `rotate` and `verify` (issue 17) against the KEKs' own
 * counts, and the blind-index counts of `backfill` and `verify` (issue 15) on a store that
 * declares an index column, read back from the raw rows.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createBlindIndexKey, createKeyring, loadBlindIndexes } from '@cmek/core';
import type { VerifyReport, WriteReport } from '@cmek/core/engine';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { exitCodeOfVerify } from '../src/commands/verify';
import type { KekCallSummary } from '../src/index';
import { cmek, report } from './support/cli';
import {
  type CountedFixture,
  type CountedKek,
  countedConfigSource,
  countedKeks,
  countedProvider,
} from './support/counted-config';
import { tempDir } from './support/sqlite';

const TABLE = 'cli_summary_tokens';

interface WriteJson {
  exitCode: number;
  error: { code: string } | null;
  kekCalls: KekCallSummary;
  stores: WriteReport[];
}

interface VerifyJson {
  exitCode: number;
  undecryptable: number;
  indexProblems: number;
  kekCalls: KekCallSummary;
  stores: VerifyReport[];
}

/** `n` legacy rows: `secret-<id>`, `note-<id>` or null every 7th; with `bidx`, an empty index column. */
function seed(file: string, n: number, bidx = false): void {
  const db = new Database(file);
  db.exec(
    `CREATE TABLE ${TABLE} (id INTEGER PRIMARY KEY, secret TEXT, note TEXT${bidx ? ', secret_bidx TEXT' : ''})`,
  );
  const insert = db.prepare(`INSERT INTO ${TABLE} (id, secret, note) VALUES (?, ?, ?)`);
  db.transaction(() => {
    for (let id = 1; id <= n; id++)
      insert.run(id, `secret-${id}`, id % 7 === 0 ? null : `note-${id}`);
  })();
  db.close();
}

function sql(file: string, statement: string, ...params: unknown[]): unknown[] {
  const db = new Database(file);
  try {
    const prepared = db.prepare(statement);
    if (prepared.reader) return prepared.all(...params);
    prepared.run(...params);
    return [];
  } finally {
    db.close();
  }
}

/** The calls each counted KEK saw, by method, without the zeros (and without `close`). */
function callsOf(keks: readonly CountedKek[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const { memory } of keks) {
    for (const [op, n] of Object.entries(memory.calls)) {
      if (op !== 'close' && n > 0) out[op] = (out[op] ?? 0) + n;
    }
  }
  return out;
}

const sum = (calls: Record<string, number>): number =>
  Object.values(calls).reduce((a, b) => a + b, 0);

/** The summary's numbers that follow from the KEKs' own counts and the rows read. */
function expectSummary(summary: KekCallSummary, keks: readonly CountedKek[], rows: number): void {
  const calls = callsOf(keks);
  expect(summary.byOperation).toEqual(calls);
  expect(summary.total).toBe(sum(calls));
  expect(summary.deks).toBe(keks.reduce((n, k) => n + k.deks, 0));
  expect(summary.rows).toBe(rows);
  expect(summary.perThousandRows).toBeCloseTo((sum(calls) * 1000) / rows, 3);
  expect(summary.durationMs).toBeGreaterThanOrEqual(0);
}

function setup(n: number, extra: Partial<CountedFixture> = {}, bidx = false) {
  const dir = tempDir();
  const file = join(dir, 'app.sqlite');
  seed(file, n, bidx);
  const fixture: CountedFixture = {
    tag: `summary-${randomBytes(4).toString('hex')}`,
    file,
    table: TABLE,
    primary: randomBytes(32).toString('hex'),
    ...extra,
  };
  /** A config of the fixture with `over`; `indexKey: null` leaves the indexer out. */
  const write = (
    name: string,
    over: Partial<Omit<CountedFixture, 'indexKey'>> & { indexKey?: string | null } = {},
  ) => {
    const { indexKey, ...rest } = { ...fixture, ...over };
    writeFileSync(
      join(dir, name),
      countedConfigSource({ ...rest, ...(typeof indexKey === 'string' ? { indexKey } : {}) }),
    );
  };
  write('cmek.config.ts');
  return { dir, file, fixture, write };
}

describe('the KEK-call summary', () => {
  it('backfill, verify and rotate count the calls their KEKs counted', {
    timeout: 120_000,
  }, async () => {
    const n = 1200;
    const { dir, fixture, write } = setup(n);

    const filled = await cmek(['backfill', '--json', '--batch', '500'], { cwd: dir });
    expect(filled.code).toBe(0);
    const backfillJson = report<WriteJson>(filled);
    expect(backfillJson.kekCalls.byOperation.generateDataKey).toBeGreaterThan(0);
    expectSummary(backfillJson.kekCalls, countedKeks(fixture.tag), n);
    expect(backfillJson.kekCalls).toMatchObject({ errors: 0, errorsByCode: {} });

    // The human output: the same numbers, on one line after the stores'.
    const verified = await cmek(['verify'], { cwd: dir });
    expect(verified.code).toBe(0);
    const calls = callsOf(countedKeks(fixture.tag));
    expect(sum(calls)).toBeGreaterThan(0);
    const ops = Object.entries(calls)
      .map(([op, k]) => `${op} ${k}`)
      .join(', ');
    expect(verified.stdout).toContain(`KEK calls: ${sum(calls)} (${ops}), `);
    expect(verified.stdout).toContain(`per 1,000 rows (1,200 rows read)`);
    expect(verified.stdout).toContain(', 0 errors, ');

    // Rotate to a new KEK: the old one unwraps, the new one wraps, each counted.
    const next = randomBytes(32).toString('hex');
    write('rotate.config.ts', { primary: next, old: fixture.primary });
    const rotated = await cmek(['rotate', '--config', 'rotate.config.ts', '--json'], {
      cwd: dir,
    });
    expect(rotated.code).toBe(0);
    const rotateJson = report<WriteJson>(rotated);
    const [newKek, oldKek] = countedKeks(fixture.tag) as [CountedKek, CountedKek];
    expect(rotateJson.kekCalls.byOperation).toEqual({
      unwrap: oldKek.memory.calls.unwrap,
      wrap: newKek.memory.calls.wrap,
    });
    expectSummary(rotateJson.kekCalls, [newKek, oldKek], n);
    // One unwrap and one wrap per DEK moved.
    expect(rotateJson.kekCalls.byOperation.wrap).toBe(rotateJson.stores[0]!.deks!.rewrapped);

    // A dry run calls no KEK.
    const dry = await cmek(['backfill', '--dry-run', '--json'], { cwd: dir });
    expect(report<WriteJson>(dry).kekCalls).toMatchObject({ total: 0, byOperation: {}, deks: 0 });
  });

  it('counts failed calls by error code: a broken KEK in verify, an unavailable one in backfill', {
    timeout: 120_000,
  }, async () => {
    const n = 300;
    const { dir, fixture, write } = setup(n);
    expect((await cmek(['backfill'], { cwd: dir })).code).toBe(0);

    write('broken.config.ts', { fail: 'broken' });
    const broken = await cmek(['verify', '--config', 'broken.config.ts', '--json'], { cwd: dir });
    const brokenJson = report<VerifyJson>(broken);
    expect(broken.code).toBe(3);
    const failed = sum(callsOf(countedKeks(fixture.tag)));
    expect(failed).toBeGreaterThan(0);
    expect(brokenJson.kekCalls).toMatchObject({
      total: failed,
      errors: failed,
      errorsByCode: { CMEK_PROVIDER: failed },
      deks: 0,
    });

    sql(fixture.file, `UPDATE ${TABLE} SET secret = 'plain-again' WHERE id = 1`);
    write('down.config.ts', { fail: 'unavailable' });
    const down = await cmek(['backfill', '--config', 'down.config.ts', '--json'], { cwd: dir });
    expect(down.code).toBe(1);
    const downJson = report<WriteJson>(down);
    expect(downJson.error?.code).toBe('CMEK_KEK_UNAVAILABLE');
    const generated = countedKeks(fixture.tag)[0]!.memory.calls.generateDataKey;
    expect(generated).toBeGreaterThan(0);
    expect(downJson.kekCalls).toMatchObject({
      total: generated,
      byOperation: { generateDataKey: generated },
      errorsByCode: { CMEK_KEK_UNAVAILABLE: generated },
    });
    // The same line on stderr in the human output, after the error.
    const human = await cmek(['backfill', '--config', 'down.config.ts'], { cwd: dir });
    expect(human.code).toBe(1);
    expect(human.stderr).toMatch(
      /KEK calls: \d+ \(generateDataKey \d+\), 0 DEKs, \d+ errors \(CMEK_KEK_UNAVAILABLE \d+\)/,
    );
  });
});

describe('blind-index counts', () => {
  it('backfill writes the index column, verify checks it and exits 5 on a missing or wrong index', {
    timeout: 120_000,
  }, async () => {
    const n = 300;
    const primary = randomBytes(32).toString('hex');
    const [kek] = countedProvider(primary, 'memory');
    const indexKey = await createBlindIndexKey(kek);
    const { dir, file, fixture, write } = setup(n, { primary, blindIndex: true, indexKey }, true);

    const filled = await cmek(['backfill', '--json'], { cwd: dir });
    expect(filled.code).toBe(0);
    const json = report<WriteJson>(filled);
    expect(json.stores[0]!.fields.secret!.indexes).toEqual({ candidates: n, written: n });
    expect(json.stores[0]!.fields.note!.indexes).toBeUndefined();
    // The index key's load is one of the counted calls (an unwrap).
    expectSummary(json.kekCalls, countedKeks(fixture.tag), n);
    expect(json.kekCalls.byOperation.unwrap).toBe(1);

    // The raw rows hold the index of each plaintext, computed here with the same key.
    const [own] = countedProvider(primary, 'memory');
    const indexer = await loadBlindIndexes({
      keys: [indexKey],
      kek: createKeyring({ primary: own }),
    });
    const rows = sql(file, `SELECT id, secret, secret_bidx FROM ${TABLE} ORDER BY id`) as {
      id: number;
      secret: string;
      secret_bidx: string | null;
    }[];
    for (const row of rows) {
      expect(row.secret.startsWith('cmek:v1:')).toBe(true);
      expect(row.secret_bidx).toBe(indexer.compute(`${TABLE}.secret`, `secret-${row.id}`));
    }
    const index5 = indexer.compute(`${TABLE}.secret`, 'secret-5');
    indexer.close();

    const clean = await cmek(['verify', '--json'], { cwd: dir });
    expect(clean.code).toBe(0);
    const cleanJson = report<VerifyJson>(clean);
    expect(cleanJson.indexProblems).toBe(0);
    expect(cleanJson.stores[0]!.fields.secret!.indexes!.secret_bidx).toMatchObject({
      ok: n,
      missing: 0,
      mismatched: 0,
    });

    // One index gone, one another row's.
    sql(file, `UPDATE ${TABLE} SET secret_bidx = NULL WHERE id = 3`);
    sql(
      file,
      `UPDATE ${TABLE} SET secret_bidx = (SELECT secret_bidx FROM ${TABLE} WHERE id = 6) WHERE id = 5`,
    );
    const broken = await cmek(['verify', '--json'], { cwd: dir });
    expect(broken.code).toBe(5);
    const brokenJson = report<VerifyJson>(broken);
    expect(brokenJson).toMatchObject({ exitCode: 5, undecryptable: 0, indexProblems: 2 });
    expect(brokenJson.stores[0]!.indexProblems).toBe(2);
    expect(brokenJson.stores[0]!.fields.secret!.indexes!.secret_bidx).toEqual({
      ok: n - 2,
      missing: 1,
      mismatched: 1,
      ids: [3, 5],
      idsTruncated: false,
    });
    const human = await cmek(['verify'], { cwd: dir });
    expect(human.code).toBe(5);
    expect(human.stdout).toContain(
      `verify ${TABLE}: completed, ${n} rows, 0 undecryptable, 2 blind-index problems`,
    );
    expect(human.stdout).toContain(`blind index secret_bidx: ${n - 2} ok, 1 missing, 1 mismatched`);
    expect(human.stdout).toContain('rows to re-index (primary keys): 3, 5');
    expect(human.stderr).toContain('2 blind-index values are missing or do not match');

    // A backfill fills the missing index (the value is decrypted, the token kept as it is).
    const before = sql(file, `SELECT secret FROM ${TABLE} WHERE id = 3`);
    const refill = await cmek(['backfill'], { cwd: dir });
    expect(refill.code).toBe(0);
    expect(refill.stdout).toContain('secret blind indexes: 1 written');
    expect(sql(file, `SELECT secret FROM ${TABLE} WHERE id = 3`)).toEqual(before);
    const after = report<VerifyJson>(await cmek(['verify', '--json'], { cwd: dir }));
    expect(after.stores[0]!.fields.secret!.indexes!.secret_bidx).toMatchObject({
      missing: 0,
      ids: [5],
    });

    // The mismatched one (another row's index) is left by a plain backfill; --reindex recomputes
    // every index and rewrites it, the token kept as it is.
    const five = sql(file, `SELECT secret FROM ${TABLE} WHERE id = 5`) as { secret: string }[];
    const reindexed = await cmek(['backfill', '--reindex', '--json'], { cwd: dir });
    expect(reindexed.code).toBe(0);
    expect(report<WriteJson>(reindexed).stores[0]!.fields.secret!.indexes).toMatchObject({
      written: 1,
    });
    expect(sql(file, `SELECT secret, secret_bidx FROM ${TABLE} WHERE id = 5`)).toEqual([
      { secret: five[0]!.secret, secret_bidx: index5 },
    ]);
    const fixed = await cmek(['verify', '--json'], { cwd: dir });
    expect(fixed.code).toBe(0);
    expect(report<VerifyJson>(fixed).indexProblems).toBe(0);

    // A store with index columns and no indexer in the config: a configuration error.
    write('other.config.ts', { indexKey: null });
    const noIndexer = await cmek(['verify', '--config', 'other.config.ts', '--json'], { cwd: dir });
    expect(noIndexer.code).toBe(2);
    expect(report<{ error: { code: string; message: string } }>(noIndexer).error).toMatchObject({
      code: 'CMEK_CONFIG',
    });
    expect(noIndexer.stderr).toContain('needs an indexer');
  });

  it('verify exits 3 before 5: undecryptable values outrank index problems', () => {
    const store = (undecryptable: number, indexProblems: number): VerifyReport => ({
      operation: 'verify',
      store: 's',
      status: 'completed',
      rows: 1,
      durationMs: 0,
      fields: {},
      undecryptable,
      indexProblems,
    });
    expect(exitCodeOfVerify([store(0, 0)])).toBe(0);
    expect(exitCodeOfVerify([store(0, 1)])).toBe(5);
    expect(exitCodeOfVerify([store(0, 1), store(1, 0)])).toBe(3);
    expect(exitCodeOfVerify([{ ...store(1, 1), status: 'aborted' }])).toBe(130);
  });
});
