/**
 * Two tenants on Drizzle ORM over SQLite, one tenant envelope (`createTenantEnvelope`): "acme"
 * stays on the application's default KEK (a local key file), "globex" brings its own AWS KMS key
 * (in a local moto server). Onboarding moves exactly globex's values to its key; globex disabling
 * its key makes its values unreadable at once (after `forgetTenant`), while acme goes on reading
 * and writing; enabling the key again makes globex's values readable again.
 *
 *   scripts/services/up.sh moto && pnpm --filter @cmek/example-tenants start
 *
 * Against real AWS: drop `endpoint` and `credentials` (the SDK's default chain); see
 * docs/tenant-keys.md for what the customer allows on its key.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateKeyCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  KMSClient,
} from '@aws-sdk/client-kms';
import { withCmek } from '@cmek/adapter-drizzle';
import {
  CmekError,
  createKeyring,
  createTenantEnvelope,
  inspectToken,
  type KekProvider,
  type Keyring,
} from '@cmek/core';
import { rewrap, verify } from '@cmek/core/engine';
import { createAwsKmsKekProvider } from '@cmek/provider-aws-kms';
import { createLocalKekProvider, generateKekFile } from '@cmek/provider-local';
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core';
import { serviceVariable } from './service-url';

function requiredEndpoint(): string {
  const url = serviceVariable('CMEK_KMS_ENDPOINT');
  if (url) return url;
  console.error('Set CMEK_KMS_ENDPOINT, or start moto with: scripts/services/up.sh moto');
  process.exit(1);
}
const endpoint = requiredEndpoint();
const region = 'us-east-1';
// moto accepts any credentials: these are placeholders, not secrets.
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };

const integrations = sqliteTable('integrations', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  workspaceId: text('workspace_id').notNull(),
  service: text('service').notNull(),
  accessToken: text('access_token'),
});

const dir = mkdtempSync(join(tmpdir(), 'cmek-tenants-'));
const plain = drizzle(join(dir, 'app.sqlite'), { schema: { integrations } });

interface StoredRow {
  readonly workspace_id: string;
  readonly service: string;
  readonly access_token: string;
}
/** What the file really holds, read around Drizzle. */
const stored = (tenant?: string): StoredRow[] =>
  (tenant === undefined
    ? plain.$client.prepare('select * from integrations order by id').all()
    : plain.$client
        .prepare('select * from integrations where workspace_id = ? order by id')
        .all(tenant)) as StoredRow[];

function printStored(rows: readonly StoredRow[]): void {
  for (const row of rows) {
    console.log(
      `   ${row.workspace_id.padEnd(7)} ${row.service.padEnd(7)} stored: ` +
        `${row.access_token.slice(0, 24)}… keyRef ${inspectToken(row.access_token).keyRef}`,
    );
  }
}

const codeOf = (error: unknown): string =>
  CmekError.isInstance(error) ? error.code : 'not a cmek error';

async function main(): Promise<void> {
  const key = await generateKekFile(join(dir, 'kek.key'));
  const defaultKek = await createLocalKekProvider({ path: key.path });
  console.log(`1. The default KEK: a local key file, keyRef ${key.keyRef}; SQLite in ${dir}.`);
  plain.$client.exec(
    'create table integrations (id integer primary key autoincrement, workspace_id text not null, service text not null, access_token text)',
  );

  /** What the application's tenants table says about globex's key (changed by onboarding). */
  let globexKey: KekProvider | Keyring | 'default' = 'default';
  const envelope = createTenantEnvelope({
    defaultKek,
    resolve: (tenant) =>
      tenant === 'acme' ? 'default' : tenant === 'globex' ? globexKey : undefined,
  });
  const db = withCmek(plain, {
    envelope,
    tables: [{ table: integrations, columns: ['accessToken'], tenantColumn: 'workspace_id' }],
  });
  const readTenant = async (tenant: string): Promise<string> => {
    const rows = await db
      .select({
        workspaceId: integrations.workspaceId,
        service: integrations.service,
        accessToken: integrations.accessToken,
      })
      .from(integrations)
      .where(eq(integrations.workspaceId, tenant))
      .orderBy(integrations.id);
    return rows.map((r) => `${r.service}=${r.accessToken}`).join(', ');
  };

  console.log('   Both tenants write integration tokens under the default KEK:');
  await db.insert(integrations).values([
    { workspaceId: 'acme', service: 'slack', accessToken: 'xoxb-acme-slack' },
    { workspaceId: 'globex', service: 'slack', accessToken: 'xoxb-globex-slack' },
    { workspaceId: 'acme', service: 'github', accessToken: 'ghp-acme-github' },
    { workspaceId: 'globex', service: 'github', accessToken: 'ghp-globex-github' },
  ]);
  printStored(stored());
  console.log(`   acme reads:   ${await readTenant('acme')}`);
  console.log(`   globex reads: ${await readTenant('globex')}`);

  console.log('\n2. Onboarding: globex brings its own KMS key.');
  const admin = new KMSClient({ region, endpoint, credentials });
  const created = await admin.send(new CreateKeyCommand({ Description: 'globex (cmek example)' }));
  const globexArn = created.KeyMetadata?.Arn;
  const globexKeyId = created.KeyMetadata?.KeyId; // moto's DisableKey / EnableKey want the bare id
  if (!globexArn || !globexKeyId) throw new Error('moto returned no key ARN');
  console.log(`   globex's key on ${endpoint}: ${globexArn}`);
  const globexKek = createAwsKmsKekProvider({
    keyId: globexArn,
    region,
    endpoint,
    credentials,
    maxAttempts: 1,
    encryptionContext: { app: 'cmek-example', tenant: 'globex' },
  });
  // During the move: globex's key writes, the default KEK still reads globex's older values.
  globexKey = createKeyring({ primary: globexKek, decryptOnly: [defaultKek] });
  await envelope.forgetTenant('globex');
  const acmeBefore = JSON.stringify(stored('acme'));
  const store = db.$cmek.rowStore(integrations);
  const report = await rewrap(store, {
    keyring: await envelope.keyringFor('globex'),
    tenant: 'globex',
  });
  console.log(
    `   rewrap --tenant globex: ${report.rows} rows scanned, ` +
      `${report.fields.accessToken?.written ?? 0} values rewritten, ${report.deks?.rewrapped ?? 0} DEK(s) moved`,
  );
  // The move is done: globex's key alone.
  globexKey = globexKek;
  await envelope.forgetTenant('globex');
  const inventory = await verify(store, { envelope, tenant: 'globex' });
  const underKms =
    inventory.fields.accessToken?.encrypted.find((e) => e.keyRef === globexArn)?.count ?? 0;
  console.log(
    `   verify --tenant globex: ${underKms} values under globex's key, ${inventory.undecryptable} undecryptable`,
  );
  printStored(stored());
  console.log(
    `   acme's rows ${JSON.stringify(stored('acme')) === acmeBefore ? 'are byte-identical' : 'CHANGED'} (acme stays on the default KEK)`,
  );
  console.log(`   acme reads:   ${await readTenant('acme')}`);
  console.log(`   globex reads: ${await readTenant('globex')}`);

  console.log('\n3. Revocation: globex disables its KMS key; every process calls forgetTenant.');
  await admin.send(new DisableKeyCommand({ KeyId: globexKeyId }));
  await envelope.forgetTenant('globex');
  try {
    await readTenant('globex');
    console.log('   globex reads: still readable');
  } catch (error) {
    console.log(`   globex reads: ${codeOf(error)}`);
  }
  try {
    await db
      .insert(integrations)
      .values({ workspaceId: 'globex', service: 'jira', accessToken: 'atatt-globex-jira' });
    console.log('   globex writes: written');
  } catch (error) {
    console.log(`   globex writes: ${codeOf(error)}`);
  }
  await db
    .insert(integrations)
    .values({ workspaceId: 'acme', service: 'jira', accessToken: 'atatt-acme-jira' });
  console.log(`   acme writes a jira token; acme reads: ${await readTenant('acme')}`);
  console.log(`   rows stored: ${stored().length}`);

  console.log('\n4. globex enables its key again:');
  await admin.send(new EnableKeyCommand({ KeyId: globexKeyId }));
  console.log(`   globex reads: ${await readTenant('globex')}`);

  admin.destroy();
  await envelope.close();
  await globexKek.close?.();
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
  console.log(`\nThe SQLite file and key file were in ${dir} (now removed).`);
}
