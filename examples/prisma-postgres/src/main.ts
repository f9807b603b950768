/**
 * Prisma 7 on PostgreSQL (driver adapter `@prisma/adapter-pg`): the cmek client extension encrypts
 * the configured fields of every create and update (nested writes too) and decrypts every read; raw SQL
 * through the plain client (`$queryRawUnsafe`, which the extension does not intercept) shows what
 * PostgreSQL holds. A legacy plaintext row is then backfilled through
 * `prismaRowStore` and the table verified.
 *
 *   scripts/services/up.sh postgres && pnpm --filter @cmek/example-prisma-postgres start
 *
 * The Prisma client is generated first, offline (src/generate-client.ts), into ../generated.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cmekExtension, prismaRowStore } from '@cmek/adapter-prisma';
import { CmekError, createEnvelope, TOKEN_PREFIX } from '@cmek/core';
import { backfill, verify } from '@cmek/core/engine';
import { createLocalKekProvider, generateKekFile } from '@cmek/provider-local';
import { PrismaPg } from '@prisma/adapter-pg';
import { generateClient } from './generate-client';
import { serviceVariable } from './service-url';

const url = serviceVariable('CMEK_PG_URL');
if (!url) {
  console.error('Set CMEK_PG_URL, or start PostgreSQL with: scripts/services/up.sh postgres');
  process.exit(1);
}

generateClient();
const { PrismaClient } = await import('../generated/client.js');

const short = (value: unknown): string =>
  typeof value === 'string' && value.startsWith(TOKEN_PREFIX)
    ? `${value.slice(0, 40)}… (${value.length} chars)`
    : JSON.stringify(value);

const dir = mkdtempSync(join(tmpdir(), 'cmek-prisma-'));
// A schema of its own, so that runs at the same time on one server do not meet.
const schema = `prisma_example_${randomBytes(4).toString('hex')}`;
const table = `${schema}.prisma_example_integrations`;
const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: url }, { schema }) });

async function main(): Promise<void> {
  const key = await generateKekFile(join(dir, 'kek.key'));
  console.log(`1. A local KEK file, keyRef ${key.keyRef}; PostgreSQL schema ${schema}.`);
  await prisma.$executeRawUnsafe(`create schema ${schema}`);
  await prisma.$executeRawUnsafe(
    `create table ${table} (id serial primary key, team text not null unique, "accessToken" text, "refreshToken" text)`,
  );

  const envelope = createEnvelope({ kek: await createLocalKekProvider({ path: key.path }) });
  const models = { Integration: { fields: ['accessToken', 'refreshToken'] } };
  const db = prisma.$extends(cmekExtension({ envelope, models }));

  console.log('\n2. Create and update through the extended client: PostgreSQL stores tokens.');
  await db.integration.create({
    data: { team: 'acme', accessToken: 'xoxb-acme-1', refreshToken: 'xoxe-acme' },
  });
  await db.integration.update({ where: { team: 'acme' }, data: { accessToken: 'xoxb-acme-2' } });
  const stored = await prisma.$queryRawUnsafe<Record<string, unknown>[]>(
    `select * from ${table} where team = 'acme'`,
  );
  const read = await db.integration.findUnique({ where: { team: 'acme' } });
  for (const field of ['accessToken', 'refreshToken'] as const) {
    console.log(`   ${field.padEnd(13)} stored: ${short(stored[0]?.[field])}`);
    console.log(`   ${''.padEnd(13)} reads:  ${JSON.stringify(read?.[field])}`);
  }
  try {
    await db.integration.findMany({ where: { accessToken: 'xoxb-acme-2' } });
  } catch (error) {
    if (!CmekError.isInstance(error)) throw error;
    console.log(`   a where on accessToken: refused: ${error.code}`);
  }

  console.log('\n3. A legacy row inserted in plaintext with raw SQL, then the backfill:');
  await prisma.$executeRawUnsafe(
    `insert into ${table} (team, "accessToken") values ('globex', $1)`,
    'xoxb-globex-legacy',
  );
  const store = prismaRowStore({
    client: prisma,
    model: 'Integration',
    fields: models.Integration.fields,
  });
  const report = await backfill(store, { envelope });
  const written = Object.values(report.fields).reduce((n, f) => n + f.written, 0);
  console.log(`   backfill: ${written} plaintext value(s) encrypted over ${report.rows} rows`);
  const legacy = await prisma.$queryRawUnsafe<{ accessToken: string }[]>(
    `select "accessToken" from ${table} where team = 'globex'`,
  );
  const legacyRead = await db.integration.findUnique({ where: { team: 'globex' } });
  console.log(`   accessToken   stored: ${short(legacy[0]?.accessToken)}`);
  console.log(`                 reads:  ${JSON.stringify(legacyRead?.accessToken)}`);

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
  await prisma.$executeRawUnsafe(`drop schema if exists ${schema} cascade`).catch(() => undefined);
  await prisma.$disconnect();
  rmSync(dir, { recursive: true, force: true });
}
