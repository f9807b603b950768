/**
 * The quickstart (the README's demo): an application's secrets in SQLite, encrypted by the
 * Sequelize adapter under a local key file; a legacy plaintext row backfilled; the key rotated;
 * and a final verify showing every value under the new key and nothing left in plaintext. The
 * operator's steps (keygen, backfill, rotate, verify) run the real `cmek` command with
 * `cmek.config.ts`. Run it with `bash scripts/demo.sh` at the repository root.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CmekError, createEnvelope, createKeyring, type Envelope } from '@cmek/core';
import { createLocalKekProvider } from '@cmek/provider-local';
import { type Model, type ModelStatic, Op, QueryTypes, Sequelize } from 'sequelize';
import { CONFIG, cmek } from './cli';
import { type AppModels, defineModels, ENCRYPTED } from './models';
import { heading, kekOf, line, showField } from './print';

const dir = mkdtempSync(join(tmpdir(), 'cmek-quickstart-'));
const databasePath = join(dir, 'app.sqlite');

function open(): Sequelize {
  return new Sequelize({ dialect: 'sqlite', storage: databasePath, logging: false });
}

function column(Model: ModelStatic<Model>, attribute: string): string {
  return (Model.rawAttributes[attribute]?.field as string | undefined) ?? attribute;
}

/** The row as the database holds it: plain SQL, around the adapter. */
async function rawRow(
  sequelize: Sequelize,
  table: string,
  id: unknown,
): Promise<Record<string, unknown>> {
  const rows = await sequelize.query<Record<string, unknown>>(
    `SELECT * FROM ${table} WHERE id = ?`,
    { replacements: [id], type: QueryTypes.SELECT },
  );
  return rows[0] ?? {};
}

/** Prints every row of every model: stored (plain SQL) beside read (through the ORM). */
async function showAll(sequelize: Sequelize, models: AppModels): Promise<void> {
  for (const [name, { table, fields }] of Object.entries(ENCRYPTED)) {
    const Model = models[name as keyof AppModels];
    for (const row of await Model.findAll({ order: [['id', 'ASC']] })) {
      const id = row.get('id');
      const raw = await rawRow(sequelize, table, id);
      line(`${table} #${String(id)}`);
      for (const field of fields) {
        const col = column(Model, field);
        showField(col, raw[col], row.get(field));
      }
    }
  }
}

async function main(): Promise<void> {
  const operator = (args: readonly string[], env: Record<string, string> = {}) =>
    cmek(args, { cwd: dir, env: { CMEK_DEMO_DATABASE: databasePath, ...env } });
  const oldKeyPath = join(dir, 'kek-1.key');
  const newKeyPath = join(dir, 'kek-2.key');

  heading('Generate a local key-encryption key (KEK): 32 random bytes in a file, mode 0600.');
  operator(['keygen', oldKeyPath]);
  const oldKek = await createLocalKekProvider({ path: oldKeyPath });
  line(`The keyRef ${oldKek.keyRef} is a fingerprint of the key, not a secret.`);

  heading('Define the models and turn encryption on: encryptFields(Model, { envelope, fields }).');
  let sequelize = open();
  const envelope: Envelope = createEnvelope({ kek: oldKek });
  let models = await defineModels(sequelize, envelope);
  await sequelize.sync();
  for (const [name, { fields }] of Object.entries(ENCRYPTED)) line(`${name}: ${fields.join(', ')}`);

  heading(
    'Write through the ORM as usual; SQLite stores cmek:v1: tokens, the app reads plaintext.',
  );
  await models.IntegrationConnection.create({
    team: 'acme',
    slackToken: 'xoxb-1111-acme-slack-bot-token',
    jiraToken: 'ATATT3x-acme-jira-api-token',
  });
  await models.Webhook.create({
    url: 'https://hooks.acme.test/cmek',
    signingSecret: 'whsec_acme_signing_secret_42',
  });
  await models.UserProfile.create({ email: 'ada@acme.test', totpSecret: 'JBSWY3DPEHPK3PXP' });
  await models.Workspace.create({
    name: 'Acme',
    smtpHost: 'smtp.acme.test',
    smtpPassword: 'smtp-hunter2-acme',
  });
  await showAll(sequelize, models);
  const refused = await models.IntegrationConnection.findAll({
    where: { slackToken: { [Op.eq]: 'xoxb-1111-acme-slack-bot-token' } },
  }).then(
    () => 'not refused',
    (error: unknown) => (CmekError.isInstance(error) ? error.code : 'another error'),
  );
  line(`A WHERE on an encrypted field cannot work on ciphertext, so it is refused: ${refused}`);

  heading('A legacy row, written in plaintext before encryption was turned on (raw SQL):');
  const connections = ENCRYPTED.IntegrationConnection.table;
  await sequelize.query(
    `INSERT INTO ${connections} (team, slack_token, jira_token) VALUES (?, ?, ?)`,
    { replacements: ['globex', 'xoxb-2222-globex-legacy-token', 'ATATT3x-globex-legacy-jira'] },
  );
  const legacy = await models.IntegrationConnection.findOne({ where: { team: 'globex' } });
  const legacyId = legacy?.get('id');
  const legacyRaw = await rawRow(sequelize, connections, legacyId);
  line(`${connections} #${String(legacyId)} (plaintextPolicy 'allow' reads it as it is)`);
  showField('slack_token', legacyRaw.slack_token, legacy?.get('slackToken'));
  showField('jira_token', legacyRaw.jira_token, legacy?.get('jiraToken'));

  heading('Backfill with the CLI: encrypt every plaintext value in place (compare-and-set).');
  operator(['backfill', '--config', CONFIG], { CMEK_DEMO_KEY_FILE: oldKeyPath });
  const backfilled = await models.IntegrationConnection.findByPk(legacyId as number);
  const backfilledRaw = await rawRow(sequelize, connections, legacyId);
  line(`${connections} #${String(legacyId)} after the backfill:`);
  showField('slack_token', backfilledRaw.slack_token, backfilled?.get('slackToken'));
  showField('jira_token', backfilledRaw.jira_token, backfilled?.get('jiraToken'));

  heading('Rotate the KEK: a new key file as primary, the old one kept decrypt-only, then rewrap.');
  operator(['keygen', newKeyPath]);
  const newKek = await createLocalKekProvider({ path: newKeyPath });
  line(`new key ${newKek.keyRef}; old key ${oldKek.keyRef} now decrypt-only`);
  const before = String(backfilledRaw.slack_token);
  operator([
    'rotate',
    '--config',
    CONFIG,
    '--old-key-file',
    oldKeyPath,
    '--new-key-file',
    newKeyPath,
  ]);
  const after = String((await rawRow(sequelize, connections, legacyId)).slack_token);
  line(`slack_token #${String(legacyId)} was under ${kekOf(before)}, now under ${kekOf(after)};`);
  const sameData = before.split('|')[2] === after.split('|')[2];
  line(
    `its encrypted data is ${sameData ? 'unchanged' : 'CHANGED'}: only the wrapped DEK was rewritten.`,
  );

  heading('Restart the application with the new keyring: it reads the same plaintext.');
  await sequelize.close();
  await envelope.close();
  sequelize = open();
  const rotated = createEnvelope({
    kek: createKeyring({ primary: newKek, decryptOnly: [oldKek] }),
  });
  models = await defineModels(sequelize, rotated);
  await showAll(sequelize, models);

  heading('Verify with the CLI and ONLY the new key: every value decrypts, none is plaintext.');
  const verified = operator(['verify', '--config', CONFIG], { CMEK_DEMO_KEY_FILE: newKeyPath });
  const plaintext = [...verified.stdout.matchAll(/: (\d+) plaintext/g)].reduce(
    (sum, [, n]) => sum + Number(n),
    0,
  );
  line(
    plaintext === 0
      ? 'Nothing needs the old key file any more: it can be retired.'
      : 'Something still needs the old key or is plaintext: keep the old key.',
  );

  await rotated.close();
  await sequelize.close();
}

try {
  await main();
  console.log(`\nDone. The database and the key files were in ${dir} (now removed).`);
} catch (error) {
  const code = CmekError.isInstance(error) ? `${error.code}: ` : '';
  console.error(
    `\nThe demo failed: ${code}${error instanceof Error ? error.message : String(error)}`,
  );
  process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
