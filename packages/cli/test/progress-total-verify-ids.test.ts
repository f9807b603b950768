/**
 * The progress total (from the row store's `count()`) in the lines printed when stderr is not a
 * terminal and in the terminal bar; `verify --json` listing the primary keys of undecryptable rows.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import type { ProgressEvent } from '@cmek/core/engine';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { CliIo } from '../src/io';
import { progressFor, progressLine } from '../src/progress';
import { appEnvelope } from './support/app';
import { type CliResult, cmek } from './support/cli';
import { configSource, type FixtureOptions } from './support/fixture-config';
import { readSqlite, seedSqlite, tempDir } from './support/sqlite';

const TABLE = 'integrations';

function ioWith(stderr: PassThrough): { io: CliIo; text: () => string } {
  let text = '';
  stderr.on('data', (c: Buffer) => (text += c.toString()));
  return {
    io: {
      stdout: new PassThrough(),
      stderr,
      stdin: Readable.from(['']),
      cwd: '/',
      importModule: () => Promise.reject(new Error('unused')),
    },
    text: () => text,
  };
}

const event = (
  phase: ProgressEvent['phase'],
  rows: number,
  total: number | undefined,
  operation: ProgressEvent['operation'] = 'backfill',
): ProgressEvent => ({
  operation,
  store: 'users',
  phase,
  rows,
  written: operation === 'verify' ? 0 : rows,
  conflicts: 0,
  cursor: rows,
  ...(total === undefined ? {} : { total }),
});

describe('progress lines with a total (stderr not a terminal)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('show rows/total, the percentage and the ETA at the rate so far', async () => {
    vi.useFakeTimers();
    const out = ioWith(new PassThrough());
    const progress = progressFor(out.io, { json: false, intervalSeconds: 10 });
    progress.listener!(event('start', 0, 20_000));
    progress.listener!(event('batch', 5_000, 20_000));
    vi.advanceTimersByTime(10_000);
    progress.listener!(event('batch', 12_000, 20_000));
    vi.advanceTimersByTime(10_000);
    progress.listener!(event('done', 20_000, 20_000));
    vi.advanceTimersByTime(30_000);
    progress.stop();
    expect(out.text().split('\n').filter(Boolean)).toEqual([
      'cmek: backfill users: 5,000/20,000 rows (25%), 500 rows/s, 5,000 written, 0 conflicts, 0:10 elapsed, ETA 0:30',
      'cmek: backfill users: 12,000/20,000 rows (60%), 600 rows/s, 12,000 written, 0 conflicts, 0:20 elapsed, ETA 0:13',
    ]);
  });

  it('a resumed run: the percentage of the whole store, the rate and ETA of this run', () => {
    expect(progressLine(event('batch', 40_000, 100_000, 'verify'), 30_000, 5_000)).toBe(
      'cmek: verify users: 40,000/100,000 rows (40%, 30,000 before resuming), 2,000 rows/s, 0:05 elapsed, ETA 0:30',
    );
  });

  it('rows past the total (inserted meanwhile) stay at 100%; no total: no percentage, no ETA', () => {
    expect(progressLine(event('batch', 1_050, 1_000), 0, 2_000)).toBe(
      'cmek: backfill users: 1,050/1,000 rows (100%), 525 rows/s, 1,050 written, 0 conflicts, 0:02 elapsed, ETA 0:00',
    );
    expect(progressLine(event('batch', 0, 1_000), 0, 2_000)).toBe(
      'cmek: backfill users: 0/1,000 rows (0%), 0 rows/s, 0 written, 0 conflicts, 0:02 elapsed',
    );
    expect(progressLine(event('batch', 500, undefined), 0, 2_000)).toBe(
      'cmek: backfill users: 500 rows, 250 rows/s, 500 written, 0 conflicts, 0:02 elapsed',
    );
  });
});

describe('the progress bar on a terminal', () => {
  function tty(): PassThrough {
    return Object.assign(new PassThrough(), { isTTY: true, columns: 200 });
  }

  it('shows value/total and the percentage when the total is known', () => {
    const out = ioWith(tty());
    const progress = progressFor(out.io, { json: false });
    progress.listener!(event('start', 0, 1_000));
    progress.listener!(event('batch', 500, 1_000));
    progress.listener!(event('done', 1_000, 1_000));
    progress.stop();
    expect(out.text()).toContain('1000/1000 rows');
    expect(out.text()).toContain('100% |');
    expect(out.text()).toContain('ETA');
  });

  it('shows the rows only without a total', () => {
    const out = ioWith(tty());
    const progress = progressFor(out.io, { json: false });
    progress.listener!(event('start', 0, undefined));
    progress.listener!(event('done', 1_000, undefined));
    progress.stop();
    expect(out.text()).toContain('backfill users | 1000 rows | 1000 written');
    expect(out.text()).not.toContain('%');
    expect(out.text()).not.toContain('ETA');
  });
});

async function project(rows: number, options: Partial<FixtureOptions> = {}) {
  const dir = tempDir();
  const dbFile = join(dir, 'app.sqlite');
  const keyFile = join(dir, 'a.key');
  seedSqlite(dbFile, TABLE, rows);
  expect((await cmek(['keygen', keyFile])).code).toBe(0);
  writeFileSync(
    join(dir, 'cmek.config.ts'),
    configSource({
      client: 'better-sqlite3',
      connection: dbFile,
      table: TABLE,
      columns: ['secret', 'note'],
      store: 'knex',
      primary: { file: keyFile },
      ...options,
    }),
  );
  return { dir, dbFile, keyFile };
}

describe('cmek over the knex row store (which has count())', () => {
  it('the progress line of a run on a non-terminal stderr shows n/total (p%) and an ETA', {
    timeout: 60_000,
  }, async () => {
    const { dir } = await project(40, { wrap: 'slow', slowScanMs: 250 });
    const result = await cmek(['verify', '--batch', '5', '--progress-interval', '1'], { cwd: dir });
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stderr.split('\n').filter((l) => l.startsWith('cmek: verify'));
    expect(lines.length, result.stderr).toBeGreaterThan(0);
    // a line before the first batch (a slow start on a busy machine) has no rate, so no ETA yet
    const withEta = (text: string, op: string) => {
      const [, done] = text.match(/: (\d+)\/40 rows/) ?? [];
      expect(text).toMatch(new RegExp(`^cmek: ${op} integrations: \\d+/40 rows \\(\\d+%\\), `));
      if (Number(done) === 0) return false;
      expect(text).toMatch(/, ETA \d+:\d\d$/);
      return true;
    };
    const verifyEtas = lines.filter((text) => withEta(text, 'verify'));
    for (const text of lines) {
      const [, done, percent] = text.match(/: (\d+)\/40 rows \((\d+)%\)/)!;
      expect(Number(percent)).toBe(Math.floor((Number(done) * 100) / 40));
    }
    // backfill goes through the CLI's guarded store, which keeps the count
    const filled = await cmek(['backfill', '--batch', '5', '--progress-interval', '1'], {
      cwd: dir,
    });
    expect(filled.code, filled.stderr).toBe(0);
    const fillLines = filled.stderr.split('\n').filter((l) => l.startsWith('cmek: backfill'));
    expect(fillLines.length, filled.stderr).toBeGreaterThan(0);
    const fillEtas = fillLines.filter((text) => withEta(text, 'backfill'));
    // 8 batches of 250 ms or more and a line a second: some line comes after a batch
    expect(
      verifyEtas.length + fillEtas.length,
      `${result.stderr}\n${filled.stderr}`,
    ).toBeGreaterThan(0);
  });
});

interface VerifyJson {
  exitCode: number;
  undecryptable: number;
  stores: {
    store: string;
    fields: Record<
      string,
      { undecryptable: number; undecryptableIds: number[]; undecryptableIdsTruncated: boolean }
    >;
  }[];
}

function only(result: CliResult): VerifyJson {
  const lines = result.stdout.split('\n').filter((l) => l.length > 0);
  expect(lines, result.stderr).toHaveLength(1);
  return JSON.parse(lines[0]!) as VerifyJson;
}

describe('cmek verify lists the primary keys of undecryptable rows', () => {
  it('--json: the ids per field, bounded by --max-undecryptable-ids, and no value', {
    timeout: 60_000,
  }, async () => {
    const { dir, dbFile, keyFile } = await project(60);
    expect((await cmek(['backfill'], { cwd: dir })).code).toBe(0);
    // Three secrets under a KEK the config does not hold, one note under the secret's context.
    const other = join(dir, 'b.key');
    expect((await cmek(['keygen', other])).code).toBe(0);
    const foreign = await appEnvelope(other);
    const db = new Database(dbFile);
    const lost: string[] = [];
    for (const id of [42, 3, 17]) {
      const token = await foreign.encrypt(`secret-${id}`, {
        context: { field: `${TABLE}.secret` },
      });
      db.prepare(`UPDATE ${TABLE} SET secret = ? WHERE id = ?`).run(token, id);
      lost.push(token);
    }
    const own = await appEnvelope(keyFile);
    const misplaced = await own.encrypt('note-9', { context: { field: `${TABLE}.secret` } });
    db.prepare(`UPDATE ${TABLE} SET note = ? WHERE id = ?`).run(misplaced, 9);
    db.close();
    await Promise.all([foreign.close(), own.close()]);

    const result = await cmek(['verify', '--json'], { cwd: dir });
    expect(result.code).toBe(3);
    const json = only(result);
    expect(json).toMatchObject({ exitCode: 3, undecryptable: 4 });
    expect(json.stores[0]!.fields.secret).toMatchObject({
      undecryptable: 3,
      undecryptableIds: [3, 17, 42],
      undecryptableIdsTruncated: false,
    });
    expect(json.stores[0]!.fields.note).toMatchObject({
      undecryptable: 1,
      undecryptableIds: [9],
      undecryptableIdsTruncated: false,
    });
    // Primary keys only: none of the stored values, and no plaintext.
    const stored = readSqlite(dbFile, TABLE).filter((r) => [3, 9, 17, 42].includes(r.id));
    for (const row of stored) {
      for (const value of [row.secret, row.note]) {
        if (value !== null) expect(result.stdout).not.toContain(value.slice(8, 48));
      }
    }
    for (const token of lost) expect(result.stdout).not.toContain(token.slice(8, 48));
    expect(result.stdout).not.toContain('secret-17');

    const bounded = await cmek(['verify', '--json', '--max-undecryptable-ids', '2'], { cwd: dir });
    expect(only(bounded).stores[0]!.fields.secret).toMatchObject({
      undecryptable: 3,
      undecryptableIds: [3, 17],
      undecryptableIdsTruncated: true,
    });
    const bad = await cmek(['verify', '--json', '--max-undecryptable-ids', '-1'], { cwd: dir });
    expect(bad.code).toBe(2);

    const human = await cmek(['verify'], { cwd: dir });
    expect(human.code).toBe(3);
    expect(human.stdout).toContain('    undecryptable rows (primary keys): 3, 17, 42\n');
    expect(human.stdout).toContain('    undecryptable rows (primary keys): 9\n');
  });

  it('the human output shows the first five, and how many more', {
    timeout: 60_000,
  }, async () => {
    const { dir } = await project(30);
    expect((await cmek(['backfill'], { cwd: dir })).code).toBe(0);
    const other = join(dir, 'b.key');
    expect((await cmek(['keygen', other])).code).toBe(0);
    writeFileSync(
      join(dir, 'other.config.ts'),
      configSource({
        client: 'better-sqlite3',
        connection: join(dir, 'app.sqlite'),
        table: TABLE,
        columns: ['secret'],
        store: 'knex',
        primary: { file: other },
      }),
    );
    const human = await cmek(['verify', '--config', 'other.config.ts'], { cwd: dir });
    expect(human.code).toBe(3);
    expect(human.stdout).toContain(
      '    undecryptable rows (primary keys): 1, 2, 3, 4, 5 and 25 more\n',
    );
    const json = only(
      await cmek(['verify', '--config', 'other.config.ts', '--json'], { cwd: dir }),
    );
    expect(json.stores[0]!.fields.secret!.undecryptableIds).toEqual(
      Array.from({ length: 30 }, (_, i) => i + 1),
    );
  });
});
