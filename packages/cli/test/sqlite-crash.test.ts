import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WriteReport } from '@cmek/core/engine';
import { describe, expect, it } from 'vitest';
import { appEnvelope, expectSecrets } from './support/app';
import { cmek, report, spawnCmek } from './support/cli';
import { configSource } from './support/fixture-config';
import { readSqlite, seedSqlite, tempDir } from './support/sqlite';

const TABLE = 'integrations';

async function setup(rows: number) {
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
      columns: ['secret'],
      store: 'direct',
      primary: { file: keyFile },
    }),
  );
  return { dir, dbFile, keyFile, checkpointFile: join(dir, '.cmek', `backfill.${TABLE}.json`) };
}

const isToken = (v: string | null) => v?.startsWith('cmek:v1:') === true;

describe('a backfill killed with SIGKILL', () => {
  it('resumes from its checkpoint: no row lost, none encrypted twice', {
    timeout: 120_000,
  }, async () => {
    const N = 100_000;
    const { dir, dbFile, keyFile, checkpointFile } = await setup(N);
    const child = spawnCmek(['backfill', '--batch', '500'], dir);
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_c, s) => resolve(s)),
    );
    // Kill it once a few batches are committed (the checkpoint says so), mid-run.
    for (;;) {
      if (existsSync(checkpointFile)) {
        try {
          if (JSON.parse(readFileSync(checkpointFile, 'utf8')).cursor >= 10_000) break;
        } catch {
          // Renamed into place while we read: try again.
        }
      }
      if (child.exitCode !== null)
        throw new Error(`the child exited before it was killed: ${stderr}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');

    const saved = JSON.parse(readFileSync(checkpointFile, 'utf8')) as { cursor: number };
    const mid = readSqlite(dbFile, TABLE);
    const encrypted = mid.filter((r) => isToken(r.secret)).length;
    expect(encrypted).toBeGreaterThanOrEqual(saved.cursor);
    expect(encrypted).toBeLessThan(N);
    // Every row up to the checkpoint is written; after it, at most the batch in flight.
    expect(mid.slice(0, saved.cursor).every((r) => isToken(r.secret))).toBe(true);

    const resumed = await cmek(['backfill', '--json', '--batch', '500'], { cwd: dir });
    expect(resumed.code).toBe(0);
    const [store] = report<{ stores: WriteReport[] }>(resumed).stores;
    expect(store!.resumedFrom).toBe(saved.cursor);
    expect(store!.status).toBe('completed');
    expect(existsSync(checkpointFile)).toBe(false);

    const rows = readSqlite(dbFile, TABLE);
    expect(rows).toHaveLength(N);
    // A value encrypted twice would decrypt to a token, not to its original plaintext.
    const envelope = await appEnvelope(keyFile);
    await expectSecrets(envelope, TABLE, rows, (id) => `secret-${id}`, { encrypted: true });
    await envelope.close();
  });
});

describe('a backfill while the application writes', () => {
  it('loses no update: a row changed meanwhile is never overwritten', {
    timeout: 120_000,
  }, async () => {
    const N = 30_000;
    const { dir, dbFile, keyFile } = await setup(N);
    const envelope = await appEnvelope(keyFile);
    const context = { field: `${TABLE}.secret` };
    const Database = (await import('better-sqlite3')).default;
    const db = new Database(dbFile);
    db.pragma('busy_timeout = 10000');
    const update = db.prepare(`UPDATE ${TABLE} SET secret = ? WHERE id = ?`);
    const expected = new Map<number, string>();

    const child = spawnCmek(['backfill', '--batch', '200', '--json'], dir);
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    const exited = new Promise<number | null>((resolve) =>
      child.on('exit', (code) => resolve(code)),
    );
    let running = true;
    void exited.then(() => (running = false));
    let writes = 0;
    // An application of two releases at once: half of its writes are plaintext (old code),
    // half are encrypted (new code).
    const checkpointFile = join(dir, '.cmek', `backfill.${TABLE}.json`);
    while (running) {
      // Half of the writes land just ahead of the backfill (the batch it is working on), where
      // an unconditional write would lose them; the rest anywhere.
      let near = 0;
      try {
        near = JSON.parse(readFileSync(checkpointFile, 'utf8')).cursor as number;
      } catch {
        // No checkpoint yet (or being renamed into place).
      }
      const id =
        writes % 4 < 2
          ? Math.min(N, near + 1 + Math.floor(Math.random() * 400))
          : 1 + Math.floor(Math.random() * N);
      const value = `app-${id}-${writes}`;
      update.run(writes % 2 === 0 ? value : await envelope.encrypt(value, { context }), id);
      expected.set(id, value);
      writes++;
      await new Promise((r) => setTimeout(r, 1));
    }
    db.close();
    const code = await exited;
    expect([0, 4]).toContain(code);
    expect(writes).toBeGreaterThan(50);
    const [store] = (JSON.parse(stdout.trim().split('\n').pop()!) as { stores: WriteReport[] })
      .stores;
    expect(store!.rows).toBe(N);
    // The writer did hit rows between the engine's read and its write; none was overwritten.
    expect(store!.fields.secret!.conflicts).toBeGreaterThan(0);

    const check = (id: number) => expected.get(id) ?? `secret-${id}`;
    await expectSecrets(envelope, TABLE, readSqlite(dbFile, TABLE), check, { encrypted: false });
    // A second pass encrypts what the old release wrote after the first pass went by.
    const again = await cmek(['backfill', '--json'], { cwd: dir });
    expect(again.code).toBe(0);
    await expectSecrets(envelope, TABLE, readSqlite(dbFile, TABLE), check, { encrypted: true });
    await envelope.close();
  });
});
