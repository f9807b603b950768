/**
 * AWS KMS as the key-encryption key, against a local moto server: each DEK comes from KMS
 * GenerateDataKey, a rotation moves the DEKs to a second KMS key with ReEncrypt (the DEK never
 * leaves KMS), and a verify with only the new key shows nothing left under the old one.
 *
 *   scripts/services/up.sh moto && pnpm --filter @cmek/example-aws-kms start
 *
 * Against real AWS: drop `endpoint` and `credentials` (the SDK's default chain) and use key ARNs.
 */
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { encryptFields, sequelizeRowStore } from '@cmek/adapter-sequelize';
import { CmekError, type CmekEvent, createEnvelope, createKeyring, inspectToken } from '@cmek/core';
import { rewrap, verify } from '@cmek/core/engine';
import { createAwsKmsKekProvider } from '@cmek/provider-aws-kms';
import { DataTypes, QueryTypes, Sequelize } from 'sequelize';
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
const kms = (keyId: string) =>
  createAwsKmsKekProvider({ keyId, region, endpoint, credentials, maxAttempts: 1 });

const calls = new Map<string, number>();
function count(event: CmekEvent): void {
  if (event.type === 'kek-call') calls.set(event.operation, (calls.get(event.operation) ?? 0) + 1);
}
const callSummary = (): string =>
  [...calls].map(([operation, n]) => `${operation} ×${n}`).join(', ') || 'none';

async function main(): Promise<void> {
  const admin = new KMSClient({ region, endpoint, credentials });
  const newKey = async (description: string): Promise<string> => {
    const out = await admin.send(new CreateKeyCommand({ Description: description }));
    const arn = out.KeyMetadata?.Arn;
    if (!arn) throw new Error('moto returned no key ARN');
    return arn;
  };
  const keyA = await newKey('cmek example: key A');
  const keyB = await newKey('cmek example: key B');
  admin.destroy();
  console.log(`1. Two KMS keys on ${endpoint}:\n   A ${keyA}\n   B ${keyB}`);

  const sequelize = new Sequelize({ dialect: 'sqlite', storage: ':memory:', logging: false });
  const Integration = sequelize.define(
    'Integration',
    { team: DataTypes.STRING, slackToken: DataTypes.TEXT },
    { tableName: 'integrations', timestamps: false, underscored: true },
  );
  await Integration.sync();
  const envelope = createEnvelope({ kek: kms(keyA), onEvent: count });
  await encryptFields(Integration, { envelope, fields: ['slackToken'] });

  const teams = ['acme', 'globex', 'initech'];
  for (const team of teams) await Integration.create({ team, slackToken: `xoxb-${team}-token` });
  console.log(`\n2. ${teams.length} rows written under key A; KMS calls: ${callSummary()}`);
  console.log('   (one data key serves many values: the DEK cache)');
  const raw = await sequelize.query<{ team: string; slack_token: string }>(
    'SELECT team, slack_token FROM integrations ORDER BY id',
    { type: QueryTypes.SELECT },
  );
  for (const row of raw) {
    const info = inspectToken(row.slack_token);
    console.log(
      `   ${row.team.padEnd(8)} stored: ${row.slack_token.slice(0, 32)}… keyRef ${info.keyRef}`,
    );
  }
  const read = await Integration.findAll({ order: [['id', 'ASC']] });
  console.log(
    `   the application reads: ${read.map((r) => String(r.get('slackToken'))).join(', ')}`,
  );

  console.log('\n3. Rotate to key B (keyring: B primary, A decrypt-only; the CLI: cmek rotate):');
  calls.clear();
  const keyring = createKeyring({ primary: kms(keyB), decryptOnly: [kms(keyA)] });
  const report = await rewrap(sequelizeRowStore(Integration), { keyring, onEvent: count });
  const written = report.fields.slackToken?.written ?? 0;
  console.log(
    `   ${written} values rewritten, ${report.deks?.rewrapped ?? 0} DEK(s) moved ` +
      `(${report.deks?.serverSide ?? 0} by KMS ReEncrypt); KMS calls: ${callSummary()}`,
  );

  console.log('\n4. Verify with ONLY key B (the CLI: cmek verify):');
  const onlyB = createEnvelope({ kek: kms(keyB) });
  const inventory = await verify(sequelizeRowStore(Integration), { envelope: onlyB });
  const field = inventory.fields.slackToken;
  for (const { keyRef, count: n } of field?.encrypted ?? []) {
    console.log(
      `   ${n} values under ${keyRef === keyB ? 'key B' : keyRef === keyA ? 'key A' : keyRef}`,
    );
  }
  console.log(
    `   verify: ${field?.plaintext ?? 0} plaintext, ${inventory.undecryptable} undecryptable: key A can be retired`,
  );

  await onlyB.close();
  await keyring.close();
  await envelope.close();
  await sequelize.close();
}

try {
  await main();
} catch (error) {
  const code = CmekError.isInstance(error) ? `${error.code}: ` : '';
  console.error(
    `The example failed: ${code}${error instanceof Error ? error.message : String(error)}`,
  );
  process.exitCode = 1;
}
