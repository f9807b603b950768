/**
 * `--tenant` (issue 16, item 5): onboarding one tenant to its own KEK with `rotate --tenant`,
 * resumable from the tenant's own checkpoint, `backfill --tenant` and `verify --tenant` limited to
 * the tenant's rows, and the refusals. Three tenants in one SQLite table: `a` on KEK A, `b` on the
 * default KEK until it moves to KEK B, `c` on the default KEK throughout.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inspectToken } from '@cmek/core';
import type { VerifyReport, WriteReport } from '@cmek/core/engine';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { cmek, report } from './support/cli';
import { tempDir } from './support/sqlite';
import {
  memoryKek,
  onTenantProgress,
  type TenantFixture,
  type TenantKeySpec,
  tenantConfigSource,
} from './support/tenant-config';

const TABLE = 'cli_tenant_rows';
const TENANTS = ['a', 'b', 'c'] as const;
const N = 600;

interface WriteJson {
  exitCode: number;
  tenant?: string;
  error: { code: string; message: string } | null;
  stores: WriteReport[];
}

interface VerifyJson {
  exitCode: number;
  tenant?: string;
  undecryptable: number;
  stores: VerifyReport[];
}

interface StoredRow {
  id: number;
  tenant: string;
  secret: string;
}

const hex = () => randomBytes(32).toString('hex');
const keyRefOf = (kekHex: string) => memoryKek(kekHex).keyRef;

function readRows(file: string): StoredRow[] {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare(`SELECT id, tenant, secret FROM ${TABLE} ORDER BY id`).all() as StoredRow[];
  } finally {
    db.close();
  }
}

const ofTenant = (rows: readonly StoredRow[], tenant: string) =>
  rows.filter((r) => r.tenant === tenant);

function setup() {
  const dir = tempDir();
  const file = join(dir, 'app.sqlite');
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec(`CREATE TABLE ${TABLE} (id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, secret TEXT)`);
  const insert = db.prepare(`INSERT INTO ${TABLE} (id, tenant, secret) VALUES (?, ?, ?)`);
  db.transaction(() => {
    for (let id = 1; id <= N; id++) insert.run(id, TENANTS[id % 3], `secret-${id}`);
  })();
  db.close();
  const keys = { default: hex(), a: hex(), b: hex() };
  const tag = `tenant-${randomBytes(4).toString('hex')}`;
  const write = (
    name: string,
    tenants: Record<string, TenantKeySpec>,
    over: Partial<TenantFixture> = {},
  ) => {
    const fixture: TenantFixture = {
      tag,
      file,
      table: TABLE,
      defaultKek: keys.default,
      tenants,
      ...over,
    };
    writeFileSync(join(dir, name), tenantConfigSource(fixture));
  };
  // Before: b on the default KEK. Moving: b's resolver answers B, the default still reading.
  write('before.config.ts', { a: keys.a, b: 'default', c: 'default' });
  write('moving.config.ts', {
    a: keys.a,
    b: { primary: keys.b, from: keys.default },
    c: 'default',
  });
  write('after.config.ts', { a: keys.a, b: keys.b, c: 'default' });
  return { dir, file, keys, tag, write };
}

const TIMEOUT = { timeout: 120_000 };

describe('cmek --tenant on SQLite', () => {
  it(
    'backfill --tenant encrypts one tenant; rotate --tenant b moves only b, resumably',
    TIMEOUT,
    async () => {
      const { dir, file, keys, tag } = setup();
      const cfg = (name: string) => ['--config', `${name}.config.ts`];

      // backfill --tenant a: a's rows only, under A; the others stay plaintext.
      const onlyA = await cmek(['backfill', '--tenant', 'a', ...cfg('before'), '--json'], {
        cwd: dir,
      });
      expect(onlyA.code).toBe(0);
      const onlyAJson = report<WriteJson>(onlyA);
      expect(onlyAJson.tenant).toBe('a');
      expect(onlyAJson.stores[0]).toMatchObject({ tenant: 'a', rows: N / 3 });
      const rows = readRows(file);
      expect(
        ofTenant(rows, 'a').every((r) => inspectToken(r.secret).keyRef === keyRefOf(keys.a)),
      ).toBe(true);
      expect(rows.filter((r) => r.tenant !== 'a').every((r) => r.secret === `secret-${r.id}`)).toBe(
        true,
      );
      // Its checkpoint was the tenant's own, and is gone once the run completed.
      expect(existsSync(join(dir, '.cmek', `backfill.${TABLE}@a.json`))).toBe(false);

      // The whole store: each row under its own tenant's KEK.
      expect((await cmek(['backfill', ...cfg('before')], { cwd: dir })).code).toBe(0);
      const before = readRows(file);
      for (const row of before) {
        const expected = row.tenant === 'a' ? keys.a : keys.default;
        expect(inspectToken(row.secret).keyRef).toBe(keyRefOf(expected));
      }

      // rotate --tenant b, interrupted after its first batch: the checkpoint is b's.
      const controller = new AbortController();
      const unhook = onTenantProgress(tag, (event) => {
        if (event.rows > 0) controller.abort();
      });
      const stopped = await cmek(
        ['rotate', '--tenant', 'b', ...cfg('moving'), '--batch', '50', '--json'],
        { cwd: dir, signal: controller.signal },
      );
      unhook();
      expect(stopped.code).toBe(130);
      const stoppedJson = report<WriteJson>(stopped);
      expect(stoppedJson.tenant).toBe('b');
      const checkpointFile = join(dir, '.cmek', `rewrap.${TABLE}@b.json`);
      expect(stoppedJson.stores[0]).toMatchObject({
        tenant: 'b',
        status: 'aborted',
        checkpoint: { path: checkpointFile },
      });
      const saved = JSON.parse(readFileSync(checkpointFile, 'utf8')) as {
        tenant: string;
        cursor: number;
      };
      expect(saved.tenant).toBe('b');
      expect(saved.cursor).toBeLessThan(N);
      expect(existsSync(join(dir, '.cmek', `rewrap.${TABLE}.json`))).toBe(false);
      const mid = readRows(file);
      const movedSoFar = ofTenant(mid, 'b').filter(
        (r) => inspectToken(r.secret).keyRef === keyRefOf(keys.b),
      ).length;
      expect(movedSoFar).toBeGreaterThan(0);
      expect(movedSoFar).toBeLessThan(N / 3);

      // Another tenant's run in between neither uses nor clears b's checkpoint.
      const other = await cmek(['rotate', '--tenant', 'c', ...cfg('moving'), '--json'], {
        cwd: dir,
      });
      expect(other.code).toBe(0);
      expect(report<WriteJson>(other).stores[0]!.resumedFrom).toBeNull();
      expect(existsSync(checkpointFile)).toBe(true);

      // The resume continues b's run after its cursor and completes it.
      const resumed = await cmek(
        ['rotate', '--tenant', 'b', ...cfg('moving'), '--batch', '50', '--json'],
        { cwd: dir },
      );
      expect(resumed.code).toBe(0);
      expect(report<WriteJson>(resumed).stores[0]).toMatchObject({
        tenant: 'b',
        status: 'completed',
        resumedFrom: saved.cursor,
      });
      expect(existsSync(checkpointFile)).toBe(false);

      // Every b value is under B now; a's and c's rows are byte for byte what they were.
      const after = readRows(file);
      for (const [i, row] of after.entries()) {
        if (row.tenant === 'b') expect(inspectToken(row.secret).keyRef).toBe(keyRefOf(keys.b));
        else expect(row).toEqual(before[i]);
      }

      // verify --tenant b with B alone for b: only b's rows, all readable, all under B.
      const verified = await cmek(['verify', '--tenant', 'b', ...cfg('after'), '--json'], {
        cwd: dir,
      });
      expect(verified.code).toBe(0);
      const verifiedJson = report<VerifyJson>(verified);
      expect(verifiedJson.tenant).toBe('b');
      expect(verifiedJson.undecryptable).toBe(0);
      const [store] = verifiedJson.stores;
      expect(store).toMatchObject({ tenant: 'b', rows: N / 3 });
      expect(store!.fields.secret!.encrypted).toEqual([
        expect.objectContaining({ keyRef: keyRefOf(keys.b), count: N / 3 }),
      ]);
      // The human output names the tenant.
      const human = await cmek(['verify', '--tenant', 'a', ...cfg('after')], { cwd: dir });
      expect(human.code).toBe(0);
      expect(human.stdout).toContain(`verify ${TABLE} (tenant a): completed, ${N / 3} rows`);
    },
  );

  it(
    'refuses --tenant for a store without tenantColumn and for a config without a tenant envelope',
    TIMEOUT,
    async () => {
      const { dir, keys, write } = setup();
      write('plain.config.ts', {}, { plain: true });
      for (const command of ['rotate', 'backfill', 'verify']) {
        const result = await cmek(
          [command, '--tenant', 'b', '--config', 'plain.config.ts', '--json'],
          {
            cwd: dir,
          },
        );
        expect(result.code).toBe(2);
        const { error } = report<WriteJson>(result);
        expect(error?.code).toBe('CMEK_CONFIG');
        expect(error?.message).toContain('declares no tenantColumn');
      }

      // A store with a tenant column, but a config with a plain keyring and no tenant envelope.
      const self = new URL('./support/tenant-config.ts', import.meta.url).pathname;
      writeFileSync(
        join(dir, 'keyring.config.ts'),
        [
          `import { createKeyring } from '@cmek/core';`,
          `import { makeTenantConfig, memoryKek } from ${JSON.stringify(self)};`,
          `const base = makeTenantConfig(${JSON.stringify({ tag: 'x', file: join(dir, 'app.sqlite'), table: TABLE, defaultKek: keys.default, tenants: {} })});`,
          `export default { stores: base.stores, close: base.close, keyring: () => createKeyring({ primary: memoryKek(${JSON.stringify(keys.default)}) }) };`,
        ].join('\n'),
      );
      for (const command of ['rotate', 'verify']) {
        const result = await cmek(
          [command, '--tenant', 'b', '--config', 'keyring.config.ts', '--json'],
          {
            cwd: dir,
          },
        );
        expect(result.code).toBe(2);
        const { error } = report<WriteJson>(result);
        expect(error?.code).toBe('CMEK_CONFIG');
        expect(error?.message).toContain('--tenant needs a tenant envelope');
      }
      // A rotate of a store with a tenant column without --tenant: one keyring for every tenant
      // would move each customer's values off the customer's key.
      const all = await cmek(['rotate', '--config', 'moving.config.ts', '--json'], { cwd: dir });
      expect(all.code).toBe(2);
      expect(report<WriteJson>(all).error?.code).toBe('CMEK_CONFIG');
      expect(report<WriteJson>(all).error?.message).toContain('pass --tenant <id>');
      // Nothing was written.
      expect(readRows(join(dir, 'app.sqlite')).every((r) => r.secret === `secret-${r.id}`)).toBe(
        true,
      );
    },
  );
});
