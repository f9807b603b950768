/**
 * Knex on PostgreSQL: `withCmek` encrypts the configured columns of every insert and update and
 * decrypts every select; the plain Knex shows what PostgreSQL holds. A legacy plaintext row is
 * then backfilled and the table verified.
 *
 *   scripts/services/up.sh postgres && pnpm --filter @cmek/example-knex-postgres start
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withCmek } from '@cmek/adapter-knex';
import { CmekError, createEnvelope, TOKEN_PREFIX } from '@cmek/core';
import { backfill, verify } from '@cmek/core/engine';
import { createLocalKekProvider, generateKekFile } from '@cmek/provider-local';
import knex from 'knex';
import { serviceVariable } from './service-url';

const url = serviceVariable('CMEK_PG_URL');
if (!url) {
  console.error('Set CMEK_PG_URL, or start PostgreSQL with: scripts/services/up.sh postgres');
  process.exit(1);
}

const short = (value: unknown): string =>
  typeof value === 'string' && value.startsWith(TOKEN_PREFIX)
    ? `${value.slice(0, 40)}… (${value.length} chars)`
    : JSON.stringify(value);

const dir = mkdtempSync(join(tmpdir(), 'cmek-knex-'));
// A table of its own, so that runs at the same time on one server do not meet.
const table = `cmek_example_integrations_${randomBytes(4).toString('hex')}`;
const quiet = (): void => undefined;
const plain = knex({
  client: 'pg',
  connection: url,
  pool: { min: 0, max: 4 },
  acquireConnectionTimeout: 10_000,
  // the failure is reported once, below, without a stack trace
  log: { warn: quiet, error: quiet, deprecate: quiet, debug: quiet },
});

async function main(): Promise<void> {
  const key = await generateKekFile(join(dir, 'kek.key'));
  console.log(`1. A local KEK file, keyRef ${key.keyRef}; PostgreSQL table ${table}.`);
  await plain.schema.createTable(table, (t) => {
    t.increments('id');
    t.string('team').notNullable();
    t.text('access_token');
    t.text('refresh_token');
  });

  const envelope = createEnvelope({ kek: await createLocalKekProvider({ path: key.path }) });
  const db = withCmek(plain, {
    envelope,
    tables: { [table]: { columns: ['access_token', 'refresh_token'] } },
  });
  await db.checkColumns();

  console.log('\n2. Insert and update through withCmek(knex): PostgreSQL stores tokens.');
  await db(table).insert({ team: 'acme', access_token: 'xoxb-acme-1', refresh_token: 'xoxe-acme' });
  await db(table).where({ team: 'acme' }).update({ access_token: 'xoxb-acme-2' });
  const stored = await plain(table).where({ team: 'acme' }).first();
  const read = await db(table).where({ team: 'acme' }).first();
  for (const column of ['access_token', 'refresh_token']) {
    console.log(`   ${column.padEnd(14)} stored: ${short(stored?.[column])}`);
    console.log(`   ${''.padEnd(14)} reads:  ${JSON.stringify(read?.[column])}`);
  }

  console.log('\n3. A legacy row inserted in plaintext with the plain Knex, then the backfill:');
  await plain(table).insert({
    team: 'globex',
    access_token: 'xoxb-globex-legacy',
    refresh_token: null,
  });
  const store = db.rowStore(table);
  const report = await backfill(store, { envelope });
  const written = Object.values(report.fields).reduce((n, f) => n + f.written, 0);
  console.log(`   backfill: ${written} plaintext value(s) encrypted over ${report.rows} rows`);
  const legacy = await plain(table).where({ team: 'globex' }).first();
  const legacyRead = await db(table).where({ team: 'globex' }).first('access_token');
  console.log(`   access_token   stored: ${short(legacy?.access_token)}`);
  console.log(`                  reads:  ${JSON.stringify(legacyRead?.access_token)}`);

  console.log('\n4. Verify (the CLI: cmek verify):');
  const inventory = await verify(store, { envelope });
  let plaintext = 0;
  let encrypted = 0;
  for (const field of Object.values(inventory.fields)) {
    plaintext += field.plaintext;
    encrypted += field.encrypted.reduce((n, e) => n + e.count, 0);
  }
  console.log(
    `   verify: ${encrypted} encrypted, ${plaintext} plaintext, ${inventory.undecryptable} undecryptable`,
  );
  await envelope.close();
}

try {
  await main();
} catch (error) {
  const code = CmekError.isInstance(error) ? `${error.code}: ` : '';
  console.error(
    `The example failed: ${code}${error instanceof Error ? error.message : String(error)}`,
  );
  process.exitCode = 1;
} finally {
  await plain.schema.dropTableIfExists(table).catch(() => undefined);
  await plain.destroy();
  rmSync(dir, { recursive: true, force: true });
}
