import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inspectToken } from '@cmek/core';
import type { WriteReport } from '@cmek/core/engine';
import { describe, expect, it } from 'vitest';
import { appEnvelope, expectSecrets } from './support/app';
import { cmek, report } from './support/cli';
import { configSource, type KeySpec } from './support/fixture-config';
import { readSqlite, seedSqlite, tempDir } from './support/sqlite';

const TABLE = 'integrations';
const N = 20_000;

interface RotateJson {
  exitCode: number;
  kekCalls: { total: number; byOperation: Record<string, number> };
  stores: WriteReport[];
}

/** Tables of `n` rows in one SQLite file, each a store, backfilled under A in one run. */
async function setup(tables: readonly string[] = [TABLE], n = N) {
  const dir = tempDir();
  const dbFile = join(dir, 'app.sqlite');
  for (const table of tables) seedSqlite(dbFile, table, n);
  const a = join(dir, 'a.key');
  const b = join(dir, 'b.key');
  expect((await cmek(['keygen', a])).code).toBe(0);
  expect((await cmek(['keygen', b])).code).toBe(0);
  const config = (name: string, primary: KeySpec, decryptOnly: KeySpec[] = []) =>
    writeFileSync(
      join(dir, name),
      configSource({
        client: 'better-sqlite3',
        connection: dbFile,
        table: tables[0]!,
        moreTables: tables.slice(1),
        columns: ['secret', 'note'],
        primary,
        decryptOnly,
      }),
    );
  config('a.config.ts', { file: a });
  config('ab.config.ts', { file: b }, [{ file: a }]);
  config('b.config.ts', { file: b });
  expect((await cmek(['backfill', '--config', 'a.config.ts'], { cwd: dir })).code).toBe(0);
  return { dir, dbFile, a, b };
}

/** The distinct wrapped DEKs (the `kek` parts) of the stored values. */
function distinctDeks(dbFile: string, table = TABLE): Set<string> {
  return new Set(
    readSqlite(dbFile, table).flatMap((r) =>
      [r.secret, r.note].filter((v): v is string => v !== null).map((v) => v.split('|')[0]!),
    ),
  );
}

const restOf = (v: string | null) => (v === null ? null : v.slice(v.indexOf('|')));

describe('cmek rotate on SQLite', () => {
  it('rewraps local KEK A to B; with A dropped every row decrypts', {
    timeout: 120_000,
  }, async () => {
    const { dir, dbFile, b } = await setup();
    const before = readSqlite(dbFile, TABLE);
    const deks = distinctDeks(dbFile);
    expect(deks.size).toBeGreaterThan(1);

    // While A is still the only key, verify gates nothing; with B alone, A's values fail.
    expect((await cmek(['verify', '--config', 'b.config.ts'], { cwd: dir })).code).toBe(3);

    const dry = await cmek(['rotate', '--config', 'ab.config.ts', '--dry-run', '--json'], {
      cwd: dir,
    });
    expect(dry.code).toBe(0);
    expect(report<RotateJson>(dry).stores[0]!.deks?.rewrapped).toBe(deks.size);
    expect(report<RotateJson>(dry).kekCalls.total).toBe(0);
    expect(readSqlite(dbFile, TABLE)).toEqual(before);

    const result = await cmek(['rotate', '--config', 'ab.config.ts', '--json'], { cwd: dir });
    expect(result.code).toBe(0);
    const json = report<RotateJson>(result);
    // One unwrap with A and one wrap with B per distinct DEK, whatever the number of rows.
    expect(json.kekCalls.byOperation).toEqual({ unwrap: deks.size, wrap: deks.size });
    expect(json.stores[0]!.fields.secret).toMatchObject({ candidates: N, written: N });

    const after = readSqlite(dbFile, TABLE);
    const bRef = inspectToken(after[0]!.secret!).keyRef;
    for (const [i, row] of after.entries()) {
      expect(inspectToken(row.secret!).keyRef).toBe(bRef);
      // The salt and the Fernet part are untouched.
      expect(restOf(row.secret)).toBe(restOf(before[i]!.secret));
      expect(restOf(row.note)).toBe(restOf(before[i]!.note));
    }
    expect(inspectToken(before[0]!.secret!).keyRef).not.toBe(bRef);

    // A is dropped: B alone reads everything, and verify clears A for retirement.
    const verified = await cmek(['verify', '--config', 'b.config.ts', '--json'], { cwd: dir });
    expect(verified.code).toBe(0);
    expect(report<{ undecryptable: number }>(verified).undecryptable).toBe(0);
    const envelope = await appEnvelope(b);
    await expectSecrets(envelope, TABLE, after, (id) => `secret-${id}`, { encrypted: true });
    await envelope.close();
    // And A alone no longer can: verify says so with exit code 3.
    const old = await cmek(['verify', '--config', 'a.config.ts', '--json'], { cwd: dir });
    expect(old.code).toBe(3);
    expect(report<{ undecryptable: number }>(old).undecryptable).toBe(N + N - Math.floor(N / 7));

    // A second rotation has nothing to do.
    const again = await cmek(['rotate', '--config', 'ab.config.ts', '--json'], { cwd: dir });
    expect(report<RotateJson>(again).kekCalls.total).toBe(0);
    expect(readSqlite(dbFile, TABLE)).toEqual(after);
  });

  it('moves a DEK shared by two stores once: kekCalls counts the distinct DEKs of the run', {
    timeout: 120_000,
  }, async () => {
    const tables = ['users', 'webhooks'];
    // One backfill run, one write-side DEK cache: the two tables share their DEK.
    const { dir, dbFile, b } = await setup(tables, 500);
    const deksOf = (table: string) => distinctDeks(dbFile, table);
    const [users, webhooks] = tables.map(deksOf) as [Set<string>, Set<string>];
    expect([...webhooks].some((dek) => users.has(dek))).toBe(true);
    const distinct = new Set([...users, ...webhooks]).size;

    const result = await cmek(['rotate', '--config', 'ab.config.ts', '--json'], { cwd: dir });
    expect(result.code).toBe(0);
    const json = report<RotateJson>(result);
    expect(json.kekCalls.byOperation).toEqual({ unwrap: distinct, wrap: distinct });
    expect(json.stores.map((s) => s.store)).toEqual(tables);
    expect(json.stores.reduce((n, s) => n + s.deks!.rewrapped, 0)).toBe(distinct);
    // A DEK the second store shares with the first was moved, and counted, by the first.
    const onlyWebhooks = [...webhooks].filter((dek) => !users.has(dek)).length;
    expect(json.stores[1]!.deks!.rewrapped).toBe(onlyWebhooks);
    for (const store of json.stores) {
      expect(store.fields.secret).toMatchObject({ candidates: 500, written: 500 });
    }
    const envelope = await appEnvelope(b);
    for (const table of tables) {
      const rows = readSqlite(dbFile, table);
      await expectSecrets(envelope, table, rows, (id) => `secret-${id}`, { encrypted: true });
    }
    await envelope.close();
    // One new record per old one, shared by both tables again.
    const [usersAfter, webhooksAfter] = tables.map(deksOf) as [Set<string>, Set<string>];
    expect(new Set([...usersAfter, ...webhooksAfter]).size).toBe(distinct);
  });

  it('--old-key-file A --new-key-file B does the same, overriding the config keyring', {
    timeout: 120_000,
  }, async () => {
    const { dir, dbFile, a, b } = await setup();
    const result = await cmek(
      ['rotate', '--config', 'a.config.ts', '--old-key-file', a, '--new-key-file', b],
      {
        cwd: dir,
      },
    );
    expect(result.stdout).toContain(`rewrap ${TABLE}: completed`);
    expect(result.code).toBe(0);
    const envelope = await appEnvelope(b);
    await expectSecrets(envelope, TABLE, readSqlite(dbFile, TABLE), (id) => `secret-${id}`, {
      encrypted: true,
    });
    await envelope.close();
  });
});
