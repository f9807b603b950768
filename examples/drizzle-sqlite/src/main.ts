/**
 * Drizzle ORM on SQLite: `withCmek` encrypts the configured columns of every insert, upsert and
 * update and decrypts every select and relational query; a raw SQLite connection shows what the
 * file holds. A legacy plaintext row is then backfilled and the table verified.
 *
 *   pnpm --filter @cmek/example-drizzle-sqlite start
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withCmek } from '@cmek/adapter-drizzle';
import { CmekError, createEnvelope, TOKEN_PREFIX } from '@cmek/core';
import { backfill, verify } from '@cmek/core/engine';
import { createLocalKekProvider, generateKekFile } from '@cmek/provider-local';
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core';

const integrations = sqliteTable('integrations', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  team: text('team').notNull().unique(),
  accessToken: text('access_token'),
  refreshToken: text('refresh_token'),
});

const short = (value: unknown): string =>
  typeof value === 'string' && value.startsWith(TOKEN_PREFIX)
    ? `${value.slice(0, 40)}… (${value.length} chars)`
    : JSON.stringify(value);

const dir = mkdtempSync(join(tmpdir(), 'cmek-drizzle-'));
const plain = drizzle(join(dir, 'app.sqlite'), { schema: { integrations } });
/** What the file really holds, read around Drizzle. */
const stored = (team: string) =>
  plain.$client
    .prepare('select access_token, refresh_token from integrations where team = ?')
    .get(team) as { access_token: string | null; refresh_token: string | null };

async function main(): Promise<void> {
  const key = await generateKekFile(join(dir, 'kek.key'));
  console.log(`1. A local KEK file, keyRef ${key.keyRef}; a SQLite file in ${dir}.`);
  plain.$client.exec(
    'create table integrations (id integer primary key autoincrement, team text not null unique, access_token text, refresh_token text)',
  );

  const envelope = createEnvelope({ kek: await createLocalKekProvider({ path: key.path }) });
  const db = withCmek(plain, {
    envelope,
    tables: [{ table: integrations, columns: ['accessToken', 'refreshToken'] }],
  });
  await db.$cmek.checkColumns();

  console.log('\n2. Insert, upsert and update through withCmek(drizzle): SQLite stores tokens.');
  await db
    .insert(integrations)
    .values({ team: 'acme', accessToken: 'xoxb-acme-1', refreshToken: 'xoxe-acme' });
  await db
    .insert(integrations)
    .values({ team: 'acme', accessToken: 'xoxb-acme-2' })
    .onConflictDoUpdate({ target: integrations.team, set: { accessToken: 'xoxb-acme-2' } });
  await db
    .update(integrations)
    .set({ refreshToken: 'xoxe-acme-2' })
    .where(eq(integrations.team, 'acme'));
  const raw = stored('acme');
  const [read] = await db.select().from(integrations).where(eq(integrations.team, 'acme'));
  console.log(`   access_token   stored: ${short(raw.access_token)}`);
  console.log(`                  reads:  ${JSON.stringify(read?.accessToken)}`);
  console.log(`   refresh_token  stored: ${short(raw.refresh_token)}`);
  console.log(`                  reads:  ${JSON.stringify(read?.refreshToken)}`);

  console.log('\n3. A filter on an encrypted column is refused before it runs:');
  try {
    await db.select().from(integrations).where(eq(integrations.accessToken, 'xoxb-acme-2'));
  } catch (error) {
    console.log(`   ${CmekError.isInstance(error) ? error.code : 'unexpected'}: refused`);
  }

  console.log('\n4. A legacy row inserted in plaintext around the adapter, then the backfill:');
  plain.$client
    .prepare('insert into integrations (team, access_token) values (?, ?)')
    .run('globex', 'xoxb-globex-legacy');
  const store = db.$cmek.rowStore(integrations);
  const report = await backfill(store, { envelope });
  const written = Object.values(report.fields).reduce((n, f) => n + f.written, 0);
  console.log(`   backfill: ${written} plaintext value(s) encrypted over ${report.rows} rows`);
  const legacy = await db.query.integrations.findFirst({
    columns: { accessToken: true },
    where: eq(integrations.team, 'globex'),
  });
  console.log(`   access_token   stored: ${short(stored('globex').access_token)}`);
  console.log(`                  reads:  ${JSON.stringify(legacy?.accessToken)}`);

  console.log('\n5. Verify (the CLI: cmek verify):');
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
  plain.$client.close();
  rmSync(dir, { recursive: true, force: true });
}
