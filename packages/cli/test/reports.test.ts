/**
 * One JSON report on stdout on every exit of `--json` (0, 1, 3, 4, 130), with what was done, the
 * checkpoint, the error code and whether it is retryable; the KEK service (moto) is cut mid-run
 * through a TCP proxy.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { serviceUrl } from '@cmek/test-suite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appEnvelope } from './support/app';
import { type CliResult, cmek, spawnCmek } from './support/cli';
import { configSource, type FixtureOptions } from './support/fixture-config';
import { readSqlite, seedSqlite, tempDir } from './support/sqlite';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy';

const TABLE = 'integrations';

interface StoreJson {
  store: string;
  status: string;
  rows: number;
  resumedFrom: number | null;
  cursor: number | null;
  fields: Record<string, { written: number; conflictsRemaining: number }> | null;
  checkpoint: { path: string; cursor: number } | null;
}

interface ReportJson {
  command: string;
  exitCode: number;
  error: {
    code: string | null;
    retryable: boolean;
    name: string;
    message: string;
    store?: string;
  } | null;
  stores: StoreJson[];
  notRun?: string[];
  undecryptable?: number;
}

/** The one line of stdout, parsed: a `--json` run prints exactly one report. */
function only(result: CliResult): ReportJson {
  const lines = result.stdout.split('\n').filter((l) => l.length > 0);
  expect(lines, result.stderr).toHaveLength(1);
  const json = JSON.parse(lines[0]!) as ReportJson;
  expect(json.exitCode).toBe(result.code);
  return json;
}

async function project(rows: number, options: Partial<FixtureOptions> = {}) {
  const dir = tempDir();
  const dbFile = join(dir, 'app.sqlite');
  const keyFile = join(dir, 'a.key');
  seedSqlite(dbFile, TABLE, rows);
  expect((await cmek(['keygen', keyFile])).code).toBe(0);
  const config = (name: string, more: Partial<FixtureOptions> = {}) =>
    writeFileSync(
      join(dir, name),
      configSource({
        client: 'better-sqlite3',
        connection: dbFile,
        table: TABLE,
        columns: ['secret'],
        store: 'direct',
        primary: { file: keyFile },
        ...options,
        ...more,
      }),
    );
  config('cmek.config.ts');
  return { dir, dbFile, keyFile, config, checkpoint: join(dir, '.cmek', `backfill.${TABLE}.json`) };
}

/** Resolves once the checkpoint file says the run got past `cursor`. */
async function checkpointPast(path: string, cursor: number, running: () => boolean) {
  for (;;) {
    try {
      if (JSON.parse(readFileSync(path, 'utf8')).cursor >= cursor) return;
    } catch {
      // Not there yet, or being renamed into place.
    }
    if (!running()) throw new Error('the run ended before the checkpoint was reached');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const kmsEndpoint = serviceUrl({
  name: 'moto (KMS)',
  env: 'CMEK_KMS_ENDPOINT',
  start: 'bash scripts/services/up.sh moto',
});

describe.skipIf(!kmsEndpoint)(
  'the KEK service goes away mid-run (a proxy in front of moto)',
  () => {
    let proxy: TcpProxy;
    let keyId: string;
    beforeAll(async () => {
      proxy = await startTcpProxy(kmsEndpoint!);
      const kms = new KMSClient({
        endpoint: kmsEndpoint!,
        region: 'us-east-1',
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      });
      keyId = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
      kms.destroy();
    });
    afterAll(async () => {
      await proxy.close();
    });

    it('backfill --json: exit 1 with CMEK_KEK_UNAVAILABLE, retryable, the checkpoint; a re-run resumes', {
      timeout: 120_000,
    }, async () => {
      // 10,000 values per DEK: the second DEK's GenerateDataKey falls after the cut.
      const N = 14_000;
      const kms = { kms: { endpoint: proxy.url, keyId } };
      const { dir, dbFile, checkpoint } = await project(N, { primary: kms });
      let running = true;
      const run = cmek(['backfill', '--json', '--batch', '500'], { cwd: dir }).finally(() => {
        running = false;
      });
      await checkpointPast(checkpoint, 2_000, () => running);
      await proxy.cut();
      const failed = await run;
      expect(failed.code).toBe(1);
      const json = only(failed);
      expect(json).toMatchObject({
        command: 'backfill',
        exitCode: 1,
        error: { code: 'CMEK_KEK_UNAVAILABLE', retryable: true, store: TABLE },
      });
      const [store] = json.stores;
      expect(store!.status).toBe('failed');
      const saved = JSON.parse(readFileSync(checkpoint, 'utf8')) as { cursor: number };
      expect(store!.checkpoint).toEqual({ path: checkpoint, cursor: saved.cursor });
      expect(store!.cursor).toBe(saved.cursor);
      expect(saved.cursor).toBeGreaterThanOrEqual(2_000);
      expect(saved.cursor).toBeLessThan(N);
      // What was done: every row up to the checkpoint is encrypted, and counted.
      const encrypted = readSqlite(dbFile, TABLE).filter((r) => r.secret?.startsWith('cmek:v1:'));
      expect(store!.fields!.secret!.written).toBe(saved.cursor);
      expect(encrypted.length).toBeGreaterThanOrEqual(saved.cursor);
      expect(failed.stderr).toContain('CMEK_KEK_UNAVAILABLE');

      await proxy.restore();
      const resumed = await cmek(['backfill', '--json', '--batch', '500'], { cwd: dir });
      expect(resumed.code).toBe(0);
      const again = only(resumed);
      expect(again.error).toBeNull();
      expect(again.stores[0]).toMatchObject({
        status: 'completed',
        resumedFrom: saved.cursor,
        rows: N,
        checkpoint: null,
      });
      expect(existsSync(checkpoint)).toBe(false);
      expect(readSqlite(dbFile, TABLE).every((r) => r.secret?.startsWith('cmek:v1:'))).toBe(true);
    });

    it('rotate --json and verify --json: the same report when the KEK calls fail', {
      timeout: 120_000,
    }, async () => {
      const N = 1_500;
      const { dir, dbFile, keyFile, config } = await project(N);
      // One DEK per value (the application's cache off): every batch makes KEK calls.
      const envelope = await appEnvelope(keyFile);
      const Database = (await import('better-sqlite3')).default;
      const { createEnvelope, createKeyring } = await import('@cmek/core');
      const { createLocalKekProvider } = await import('@cmek/provider-local');
      const perValue = createEnvelope({
        kek: createKeyring({ primary: await createLocalKekProvider({ path: keyFile }) }),
        dekCache: false,
      });
      const db = new Database(dbFile);
      const update = db.prepare(`UPDATE ${TABLE} SET secret = ? WHERE id = ?`);
      const context = { field: `${TABLE}.secret` };
      for (let id = 1; id <= N; id++)
        update.run(await perValue.encrypt(`secret-${id}`, { context }), id);
      db.close();
      await Promise.all([envelope.close(), perValue.close()]);
      const kms = { kms: { endpoint: proxy.url, keyId } };
      config('move.config.ts', { primary: kms, decryptOnly: [{ file: keyFile }] });
      config('kms.config.ts', { primary: kms });

      let running = true;
      const run = cmek(['rotate', '--config', 'move.config.ts', '--json', '--batch', '100'], {
        cwd: dir,
      }).finally(() => {
        running = false;
      });
      const rewrapCheckpoint = join(dir, '.cmek', `rewrap.${TABLE}.json`);
      await checkpointPast(rewrapCheckpoint, 300, () => running);
      await proxy.cut();
      const failed = await run;
      expect(failed.code).toBe(1);
      const json = only(failed);
      expect(json).toMatchObject({
        command: 'rotate',
        error: { code: 'CMEK_KEK_UNAVAILABLE', retryable: true },
        stores: [{ status: 'failed' }],
      });
      const saved = JSON.parse(readFileSync(rewrapCheckpoint, 'utf8')) as { cursor: number };
      expect(json.stores[0]!.checkpoint).toEqual({ path: rewrapCheckpoint, cursor: saved.cursor });

      const verified = await cmek(['verify', '--config', 'kms.config.ts', '--json'], { cwd: dir });
      expect(verified.code).toBe(1);
      expect(only(verified)).toMatchObject({
        command: 'verify',
        error: { code: 'CMEK_KEK_UNAVAILABLE', retryable: true, store: TABLE },
        stores: [{ store: TABLE, status: 'failed' }],
      });

      await proxy.restore();
      const resumed = await cmek(['rotate', '--config', 'move.config.ts', '--json'], { cwd: dir });
      expect(resumed.code).toBe(0);
      expect(only(resumed).stores[0]).toMatchObject({
        status: 'completed',
        resumedFrom: saved.cursor,
        rows: N,
      });
      const done = await cmek(['verify', '--config', 'kms.config.ts', '--json'], { cwd: dir });
      expect(only(done)).toMatchObject({ exitCode: 0, error: null, undecryptable: 0 });
    });
  },
);

describe('every other exit prints one report', () => {
  it('0: done', async () => {
    const { dir } = await project(50);
    const done = await cmek(['backfill', '--json'], { cwd: dir });
    expect(done.code).toBe(0);
    expect(only(done)).toMatchObject({
      command: 'backfill',
      error: null,
      stores: [{ status: 'completed', checkpoint: null }],
      notRun: [],
    });
  });

  it('3: verify finds undecryptable values', async () => {
    const { dir, config } = await project(50);
    expect((await cmek(['backfill'], { cwd: dir })).code).toBe(0);
    const other = join(dir, 'b.key');
    expect((await cmek(['keygen', other])).code).toBe(0);
    config('other.config.ts', { primary: { file: other } });
    const result = await cmek(['verify', '--config', 'other.config.ts', '--json'], { cwd: dir });
    expect(result.code).toBe(3);
    expect(only(result)).toMatchObject({ command: 'verify', error: null, undecryptable: 50 });
  });

  it('4: conflicts remain', { timeout: 60_000 }, async () => {
    const { dir } = await project(20, { store: 'knex', wrap: 'conflicting' });
    const result = await cmek(['backfill', '--json'], { cwd: dir });
    expect(result.code).toBe(4);
    const json = only(result);
    expect(json.error).toBeNull();
    expect(json.stores[0]!.fields!.secret!.conflictsRemaining).toBe(20);
  });

  it('130: SIGINT mid-run stops after the batch, prints the report, keeps the checkpoint', {
    timeout: 120_000,
  }, async () => {
    const N = 60_000;
    const { dir, checkpoint } = await project(N);
    const child = spawnCmek(['backfill', '--json', '--batch', '200'], dir);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    await checkpointPast(checkpoint, 2_000, () => child.exitCode === null);
    child.kill('SIGINT');
    const code = await exited;
    expect(code, stderr).toBe(130);
    const json = only({ code: 130, stdout, stderr });
    const saved = JSON.parse(readFileSync(checkpoint, 'utf8')) as { cursor: number };
    expect(json).toMatchObject({
      command: 'backfill',
      error: null,
      stores: [
        {
          status: 'aborted',
          cursor: saved.cursor,
          checkpoint: { path: checkpoint, cursor: saved.cursor },
        },
      ],
    });
    expect(saved.cursor).toBeLessThan(N);
  });

  it('130: a second SIGINT quits at once, still with one report', {
    timeout: 120_000,
  }, async () => {
    const N = 20_000;
    // Batches of many asynchronous writes (knex: one statement each): the signal lands in one.
    const { dir, checkpoint } = await project(N, { store: 'knex' });
    const child = spawnCmek(['backfill', '--json', '--batch', '4000'], dir);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    await checkpointPast(checkpoint, 4_000, () => child.exitCode === null);
    child.kill('SIGINT');
    while (!stderr.includes('stopping after the batch in flight') && child.exitCode === null) {
      await new Promise((r) => setTimeout(r, 5));
    }
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    const json = only({ code: 130, stdout, stderr });
    const saved = JSON.parse(readFileSync(checkpoint, 'utf8')) as { cursor: number };
    // Usually quit in the batch in flight ('interrupted'); if the first signal came at the end
    // of a batch, the run had stopped cleanly ('aborted') before the second.
    expect(['interrupted', 'aborted']).toContain(json.stores[0]!.status);
    // The last checkpoint the run knew written (the file is a batch further if the quit came
    // while one was being saved).
    expect(json.stores[0]!.checkpoint!.path).toBe(checkpoint);
    expect(json.stores[0]!.checkpoint!.cursor).toBeLessThanOrEqual(saved.cursor);
  });

  it('inspect, decrypt and usage errors with --json', async () => {
    const { dir, keyFile } = await project(5);
    const malformed = await cmek(['inspect', 'cmek:v1:AAAAAAAAAAAA|x|y', '--json']);
    expect(malformed.code).toBe(1);
    expect(only(malformed)).toMatchObject({
      command: 'inspect',
      error: { code: 'CMEK_FORMAT', retryable: false },
    });
    const envelope = await appEnvelope(keyFile);
    const token = await envelope.encrypt('hunter2', { context: { field: 'x' } });
    await envelope.close();
    const wrong = await cmek(['decrypt', token, '--context', 'field=y', '--json'], { cwd: dir });
    expect(wrong.code).toBe(1);
    expect(only(wrong)).toMatchObject({ command: 'decrypt', error: { code: 'CMEK_DECRYPTION' } });
    expect(wrong.stdout + wrong.stderr).not.toContain(token);
    const right = await cmek(['decrypt', '-', '--context', 'field=x', '--json'], {
      cwd: dir,
      stdin: token,
    });
    expect(only(right)).toMatchObject({ command: 'decrypt', error: null, value: 'hunter2' });
    const usage = await cmek(['backfill', '--bogus', '--json'], { cwd: dir });
    expect(usage.code).toBe(2);
    expect(only(usage)).toMatchObject({
      command: 'backfill',
      error: { code: 'CMEK_INVALID_INPUT' },
    });
    const store = await cmek(['verify', '--store', 'nope', '--json'], { cwd: dir });
    expect(store.code).toBe(2);
    expect(only(store)).toMatchObject({ command: 'verify', error: { code: 'CMEK_CONFIG' } });
  });
});
