/**
 * Mongoose with `cmekPlugin`: a top-level and a nested secret path, stored as tokens (read here
 * with the plain MongoDB driver) and read back as plaintext; an update MongoDB cannot apply to
 * ciphertext is refused.
 *
 *   scripts/services/up.sh ferretdb && pnpm --filter @cmek/example-mongoose start
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cmekPlugin } from '@cmek/adapter-mongoose';
import { CmekError, createEnvelope, TOKEN_PREFIX } from '@cmek/core';
import { createLocalKekProvider, generateKekFile } from '@cmek/provider-local';
import mongoose from 'mongoose';
import { serviceVariable } from './service-url';

const url = process.env.MONGODB_URI ?? serviceVariable('CMEK_MONGO_URL');
if (!url) {
  console.error('Set CMEK_MONGO_URL, or start FerretDB with: scripts/services/up.sh ferretdb');
  process.exit(1);
}

const short = (value: unknown): string =>
  typeof value === 'string' && value.startsWith(TOKEN_PREFIX)
    ? `${value.slice(0, 40)}… (${value.length} chars)`
    : JSON.stringify(value);

const dir = mkdtempSync(join(tmpdir(), 'cmek-mongoose-'));
// A database of its own, so that runs at the same time on one server do not meet.
const dbName = `cmek_example_${randomBytes(4).toString('hex')}`;
const connection = mongoose.createConnection(url, { dbName, serverSelectionTimeoutMS: 10_000 });

async function main(): Promise<void> {
  const key = await generateKekFile(join(dir, 'kek.key'));
  console.log(`1. A local KEK file, keyRef ${key.keyRef}; database ${dbName}.`);
  const envelope = createEnvelope({ kek: await createLocalKekProvider({ path: key.path }) });

  const schema = new mongoose.Schema({
    name: String,
    slackToken: String,
    settings: { smtp: { host: String, password: String } },
  });
  schema.plugin(cmekPlugin, { envelope, fields: ['slackToken', 'settings.smtp.password'] });
  const Workspace = connection.model('Workspace', schema);

  console.log(
    '\n2. Create through Mongoose: the server stores tokens, the application reads plaintext.',
  );
  const doc = await Workspace.create({
    name: 'acme',
    slackToken: 'xoxb-acme-workspace',
    settings: { smtp: { host: 'smtp.acme.test', password: 'smtp-hunter2' } },
  });
  await Workspace.updateOne(
    { _id: doc._id },
    { $set: { 'settings.smtp.password': 'smtp-rotated' } },
  );
  const raw = await connection.db!.collection('workspaces').findOne({ _id: doc._id });
  const read = await Workspace.findById(doc._id).lean();
  console.log(`   slackToken              stored: ${short(raw?.slackToken)}`);
  console.log(`                           reads:  ${JSON.stringify(read?.slackToken)}`);
  console.log(`   settings.smtp.password  stored: ${short(raw?.settings?.smtp?.password)}`);
  console.log(
    `                           reads:  ${JSON.stringify(read?.settings?.smtp?.password)}`,
  );
  console.log(
    `   settings.smtp.host      stored: ${short(raw?.settings?.smtp?.host)} (not secret)`,
  );

  console.log('\n3. What MongoDB cannot do on ciphertext is refused, not silently wrong:');
  const refused = await Workspace.find({ slackToken: 'xoxb-acme-workspace' })
    .then(() => 'ran')
    .catch((error: unknown) => (CmekError.isInstance(error) ? error.code : 'other error'));
  console.log(`   find by slackToken: ${refused}`);
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
  await connection.dropDatabase().catch(() => undefined);
  await connection.close();
  rmSync(dir, { recursive: true, force: true });
}
