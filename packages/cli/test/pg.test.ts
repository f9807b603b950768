import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withCmek } from '@cmek/adapter-knex';
import type { WriteReport } from '@cmek/core/engine';
import { serviceUrl } from '@cmek/test-suite';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appEnvelope } from './support/app';
import { cmek, report, spawnCmek } from './support/cli';
import { configSource, openKnex } from './support/fixture-config';
import { tempDir } from './support/sqlite';

const url = serviceUrl({
  name: 'PostgreSQL',
  env: 'CMEK_PG_URL',
  start: 'bash scripts/services/up.sh postgres',
});

interface WriteJson {
  exitCode: number;
  kekCalls?: { byOperation: Record<string, number> };
  stores: WriteReport[];
}

async function seed(db: Knex, table: string, n: number): Promise<void> {
  await db.schema.createTable(table, (t) => {
    t.integer('id').primary();
    t.text('secret');
    t.text('note');
  });
  for (let start = 1; start <= n; start += 5000) {
    const rows = [];
    for (let id = start; id < Math.min(start + 5000, n + 1); id++) {
      rows.push({ id, secret: `secret-${id}`, note: id % 7 === 0 ? null : `note-${id}` });
    }
    await db(table).insert(rows);
  }
}

type Stored = { id: number; secret: string | null; note: string | null };

describe.skipIf(!url)('cmek on PostgreSQL (knex adapter RowStore)', () => {
  const dir = tempDir();
  const table = `cmek_cli_${randomBytes(4).toString('hex')}`;
  const N = 100_000;
  let db: Knex;
  const a = join(dir, 'a.key');
  const b = join(dir, 'b.key');
  const stored = async (): Promise<Stored[]> =>
    db(table).select('id', 'secret', 'note').orderBy('id');

  beforeAll(async () => {
    db = openKnex('pg', url!);
    await seed(db, table, N);
    expect((await cmek(['keygen', a])).code).toBe(0);
    expect((await cmek(['keygen', b])).code).toBe(0);
    const base = { client: 'pg' as const, connection: url!, table, columns: ['secret', 'note'] };
    writeFileSync(join(dir, 'cmek.config.ts'), configSource({ ...base, primary: { file: a } }));
    writeFileSync(
      join(dir, 'ab.config.ts'),
      configSource({ ...base, primary: { file: b }, decryptOnly: [{ file: a }] }),
    );
    writeFileSync(join(dir, 'b.config.ts'), configSource({ ...base, primary: { file: b } }));
  });

  afterAll(async () => {
    await db?.schema.dropTableIfExists(table);
    await db?.destroy();
  });

  it('dry run, then backfill 100,000 rows; the application reads them; a second run changes nothing', {
    timeout: 180_000,
  }, async () => {
    const before = await stored();
    const dry = await cmek(['backfill', '--dry-run', '--json'], { cwd: dir });
    expect(dry.code).toBe(0);
    expect(report<WriteJson>(dry).stores[0]!.fields.secret).toMatchObject({
      candidates: N,
      written: 0,
    });
    expect(await stored()).toEqual(before);

    const run = await cmek(['backfill', '--json', '--batch', '1000'], { cwd: dir });
    expect(run.code).toBe(0);
    const [store] = report<WriteJson>(run).stores;
    expect(store!.fields.secret).toMatchObject({ written: N, conflicts: 0 });
    expect(store!.fields.note).toMatchObject({
      written: N - Math.floor(N / 7),
      nulls: Math.floor(N / 7),
    });
    const after = await stored();
    expect(after.every((r) => r.secret!.startsWith('cmek:v1:'))).toBe(true);

    const envelope = await appEnvelope(a);
    const app = withCmek(db, { envelope, tables: { [table]: { columns: ['secret', 'note'] } } });
    const read = (await app(table).select('id', 'secret', 'note').orderBy('id')) as Stored[];
    expect(read.filter((r) => r.secret !== `secret-${r.id}`)).toEqual([]);
    expect(read.filter((r) => r.note !== (r.id % 7 === 0 ? null : `note-${r.id}`))).toEqual([]);
    await envelope.close();

    const again = await cmek(['backfill', '--json'], { cwd: dir });
    expect(report<WriteJson>(again).stores[0]!.fields.secret).toMatchObject({
      written: 0,
      skipped: N,
    });
    expect(await stored()).toEqual(after);
  });

  it('a concurrent writer loses no update', { timeout: 180_000 }, async () => {
    // New plaintext rows of an old release, backfilled while the application keeps writing.
    const M = 20_000;
    await db(table)
      .where('id', '<=', M)
      .update({ secret: db.raw("'fresh-' || id") });
    const envelope = await appEnvelope(a);
    const context = { field: `${table}.secret` };
    const expected = new Map<number, string>();
    const child = spawnCmek(['backfill', '--batch', '200', '--json'], dir);
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    let running = true;
    const exited = new Promise<number | null>((resolve) =>
      child.on('exit', (code) => {
        running = false;
        resolve(code);
      }),
    );
    let writes = 0;
    while (running) {
      const id = 1 + Math.floor(Math.random() * M);
      const value = `app-${id}-${writes}`;
      await db(table)
        .where({ id })
        .update({ secret: writes % 2 === 0 ? value : await envelope.encrypt(value, { context }) });
      expected.set(id, value);
      writes++;
    }
    expect([0, 4]).toContain(await exited);
    expect(writes).toBeGreaterThan(50);
    expect(JSON.parse(stdout.trim().split('\n').pop()!).stores[0].rows).toBe(N);
    const rows = await stored();
    const values = await envelope.decryptMany(
      rows.map((r) => r.secret),
      { context },
    );
    const lost = rows.filter(
      (r, i) =>
        values[i] !== (expected.get(r.id) ?? (r.id <= M ? `fresh-${r.id}` : `secret-${r.id}`)),
    );
    expect(lost).toEqual([]);
    await envelope.close();
    expect((await cmek(['backfill'], { cwd: dir })).code).toBe(0);
  });

  it('rotates local A to B; with A dropped, verify passes and every row decrypts', {
    timeout: 180_000,
  }, async () => {
    const result = await cmek(['rotate', '--config', 'ab.config.ts', '--json'], { cwd: dir });
    expect(result.code).toBe(0);
    const json = report<WriteJson>(result);
    expect(json.stores[0]!.fields.secret).toMatchObject({ written: N, conflictsRemaining: 0 });
    const deks = json.stores[0]!.deks!.rewrapped;
    expect(json.kekCalls!.byOperation).toEqual({ unwrap: deks, wrap: deks });
    const verified = await cmek(['verify', '--config', 'b.config.ts', '--json'], { cwd: dir });
    expect(verified.code).toBe(0);
    expect(report<{ undecryptable: number }>(verified).undecryptable).toBe(0);
    const old = await cmek(['verify', '--json'], { cwd: dir });
    expect(old.code).toBe(3);
  });
});
