import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { createEnvelope, createKeyring, inspectToken } from '@cmek/core';
import type { WriteReport } from '@cmek/core/engine';
import { serviceUrl } from '@cmek/test-suite';
import { describe, expect, it } from 'vitest';
import { expectSecrets } from './support/app';
import { cmek, report } from './support/cli';
import { configSource, type KeySpec, providerOf } from './support/fixture-config';
import { readSqlite, seedSqlite, tempDir } from './support/sqlite';

const endpoint = serviceUrl({
  name: 'moto (KMS)',
  env: 'CMEK_KMS_ENDPOINT',
  start: 'bash scripts/services/up.sh moto',
});

interface RotateJson {
  kekCalls: { byOperation: Record<string, number> };
  stores: WriteReport[];
}

const TABLE = 'integrations';
const N = 5_000;

describe.skipIf(!endpoint)(
  'moving from local to aws-kms (moto) online, through the keyring',
  () => {
    it('new writes go to KMS, rotate moves the rest, then local is dropped', {
      timeout: 120_000,
    }, async () => {
      const kms = new KMSClient({
        endpoint: endpoint!,
        region: 'us-east-1',
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      });
      const keyId = async () => (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
      const dir = tempDir();
      const dbFile = join(dir, 'app.sqlite');
      seedSqlite(dbFile, TABLE, N);
      const localFile = join(dir, 'local.key');
      expect((await cmek(['keygen', localFile])).code).toBe(0);
      const local: KeySpec = { file: localFile };
      const kms1: KeySpec = { kms: { endpoint: endpoint!, keyId: await keyId() } };
      const kms2: KeySpec = { kms: { endpoint: endpoint!, keyId: await keyId() } };
      const config = (name: string, primary: KeySpec, decryptOnly: KeySpec[] = []) =>
        writeFileSync(
          join(dir, name),
          configSource({
            client: 'better-sqlite3',
            connection: dbFile,
            table: TABLE,
            columns: ['secret'],
            store: 'direct',
            primary,
            decryptOnly,
          }),
        );
      config('local.config.ts', local);
      config('move.config.ts', kms1, [local]);
      config('kms1.config.ts', kms1);
      config('kms12.config.ts', kms2, [kms1]);
      config('kms2.config.ts', kms2);
      expect((await cmek(['backfill', '--config', 'local.config.ts'], { cwd: dir })).code).toBe(0);

      // The application is redeployed with KMS as primary and local as decrypt-only: it reads
      // the old values and writes new ones under KMS.
      const app = createEnvelope({
        kek: createKeyring({
          primary: await providerOf(kms1),
          decryptOnly: [await providerOf(local)],
        }),
      });
      const context = { field: `${TABLE}.secret` };
      const Database = (await import('better-sqlite3')).default;
      const db = new Database(dbFile);
      const update = db.prepare(`UPDATE ${TABLE} SET secret = ? WHERE id = ?`);
      for (const id of [1, 2, 3]) update.run(await app.encrypt(`new-${id}`, { context }), id);
      db.close();
      const expected = (id: number) => (id <= 3 ? `new-${id}` : `secret-${id}`);
      await expectSecrets(app, TABLE, readSqlite(dbFile, TABLE), expected, { encrypted: true });

      const moved = await cmek(['rotate', '--config', 'move.config.ts', '--json'], { cwd: dir });
      expect(moved.code).toBe(0);
      const json = report<RotateJson>(moved);
      const deks = json.stores[0]!.deks!;
      expect(deks).toMatchObject({ serverSide: 0, unwrapWrap: deks.rewrapped });
      // One local unwrap and one KMS Encrypt per distinct DEK; values already under KMS skipped.
      expect(json.kekCalls.byOperation).toEqual({ unwrap: deks.rewrapped, wrap: deks.rewrapped });
      expect(json.stores[0]!.fields.secret).toMatchObject({ written: N - 3, skipped: 3 });
      const rows = readSqlite(dbFile, TABLE);
      expect(new Set(rows.map((r) => inspectToken(r.secret!).providerId))).toEqual(
        new Set(['aws-kms']),
      );

      // local dropped: KMS alone reads everything.
      expect((await cmek(['verify', '--config', 'kms1.config.ts'], { cwd: dir })).code).toBe(0);
      const kmsOnly = createEnvelope({ kek: await providerOf(kms1) });
      await expectSecrets(kmsOnly, TABLE, rows, expected, { encrypted: true });

      // KMS key 1 to key 2: ReEncrypt inside KMS, the DEK never leaves it.
      const reencrypted = await cmek(['rotate', '--config', 'kms12.config.ts', '--json'], {
        cwd: dir,
      });
      expect(reencrypted.code).toBe(0);
      const json2 = report<RotateJson>(reencrypted);
      const deks2 = json2.stores[0]!.deks!;
      expect(deks2).toMatchObject({ serverSide: deks2.rewrapped, unwrapWrap: 0 });
      expect(json2.kekCalls.byOperation).toEqual({ rewrap: deks2.rewrapped });
      expect((await cmek(['verify', '--config', 'kms2.config.ts'], { cwd: dir })).code).toBe(0);
      await Promise.all([app.close(), kmsOnly.close()]);
      kms.destroy();
    });
  },
);
