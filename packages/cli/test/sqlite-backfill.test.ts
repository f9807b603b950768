import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withCmek } from '@cmek/adapter-knex';
import { createEnvelope, createKeyring } from '@cmek/core';
import type { WriteReport } from '@cmek/core/engine';
import { createLocalKekProvider } from '@cmek/provider-local';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cmek, report } from './support/cli';
import { configSource, openKnex } from './support/fixture-config';
import { readSqlite, seedSqlite, tempDir } from './support/sqlite';

const N = 100_000;
const TABLE = 'integrations';

interface WriteJson {
  exitCode: number;
  stores: WriteReport[];
}

describe('cmek backfill on SQLite, 100,000 legacy rows', () => {
  const dir = tempDir();
  const dbFile = join(dir, 'app.sqlite');
  const keyFile = join(dir, 'a.key');

  beforeAll(async () => {
    seedSqlite(dbFile, TABLE, N);
    const keygen = await cmek(['keygen', keyFile, '--json']);
    expect(keygen.code).toBe(0);
    writeFileSync(
      join(dir, 'cmek.config.ts'),
      configSource({
        client: 'better-sqlite3',
        connection: dbFile,
        table: TABLE,
        columns: ['secret', 'note'],
        store: 'direct',
        primary: { file: keyFile },
      }),
    );
  });

  it('a dry run writes nothing and reports what it would do', async () => {
    const before = readSqlite(dbFile, TABLE);
    const result = await cmek(['backfill', '--dry-run', '--json'], { cwd: dir });
    expect(result.code).toBe(0);
    const [store] = report<WriteJson>(result).stores;
    expect(store).toMatchObject({ dryRun: true, rows: N, status: 'completed' });
    expect(store!.fields.secret).toMatchObject({ candidates: N, written: 0 });
    expect(store!.fields.note).toMatchObject({
      candidates: N - Math.floor(N / 7),
      nulls: Math.floor(N / 7),
    });
    expect(readSqlite(dbFile, TABLE)).toEqual(before);
  });

  it('encrypts every value, and the application reads them back', {
    timeout: 120_000,
  }, async () => {
    const result = await cmek(['backfill', '--json', '--batch', '1000'], { cwd: dir });
    expect(result.code).toBe(0);
    const [store] = report<WriteJson>(result).stores;
    expect(store!.fields.secret).toMatchObject({ candidates: N, written: N, conflicts: 0 });
    const rows = readSqlite(dbFile, TABLE);
    expect(rows).toHaveLength(N);
    for (const row of rows) {
      expect(row.secret!.startsWith('cmek:v1:')).toBe(true);
      expect(row.note === null || row.note.startsWith('cmek:v1:')).toBe(true);
      expect(row.note === null).toBe(row.id % 7 === 0);
    }
    // The application: the knex adapter with a plaintext policy that refuses any leftover.
    const envelope = createEnvelope({
      kek: createKeyring({ primary: await createLocalKekProvider({ path: keyFile }) }),
      plaintextPolicy: 'reject',
    });
    const plain = openKnex('better-sqlite3', dbFile);
    const db = withCmek(plain, { envelope, tables: { [TABLE]: { columns: ['secret', 'note'] } } });
    try {
      const read = (await db(TABLE).select('id', 'secret', 'note').orderBy('id')) as {
        id: number;
        secret: string;
        note: string | null;
      }[];
      expect(read).toHaveLength(N);
      for (const row of read) {
        expect(row.secret).toBe(`secret-${row.id}`);
        expect(row.note).toBe(row.id % 7 === 0 ? null : `note-${row.id}`);
      }
    } finally {
      await plain.destroy();
      await envelope.close();
    }
  });

  it('a second run changes nothing', async () => {
    const before = readSqlite(dbFile, TABLE);
    const result = await cmek(['backfill', '--json'], { cwd: dir });
    expect(result.code).toBe(0);
    const [store] = report<WriteJson>(result).stores;
    expect(store!.fields.secret).toMatchObject({ candidates: 0, written: 0, skipped: N });
    expect(readSqlite(dbFile, TABLE)).toEqual(before);
  });

  it('verify counts every value under the key, and exits 0', async () => {
    const result = await cmek(['verify', '--json'], { cwd: dir });
    expect(result.code).toBe(0);
    const json = report<{ undecryptable: number; stores: { fields: Record<string, unknown> }[] }>(
      result,
    );
    expect(json.undecryptable).toBe(0);
    expect(json.stores[0]!.fields.secret).toMatchObject({
      plaintext: 0,
      undecryptable: 0,
      encrypted: [{ providerId: 'local', count: N }],
    });
  });

  afterAll(() => undefined);
});
