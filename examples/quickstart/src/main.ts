/**
 * The quickstart: generate a local KEK file, encrypt a secret the way an adapter stores it, and
 * read it back. Run it with the README's demo command.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEnvelope } from '@cmek/core';
import { createLocalKekProvider, generateKekFile } from '@cmek/provider-local';

const dir = mkdtempSync(join(tmpdir(), 'cmek-demo-'));
const keyPath = join(dir, 'kek.key');
const { keyRef } = await generateKekFile(keyPath);
console.log(`1. Generated a local KEK file (mode 0600): ${keyPath}`);
console.log(`   Its key reference (not a secret): ${keyRef}\n`);

const envelope = createEnvelope({ kek: await createLocalKekProvider({ path: keyPath }) });
const context = { field: 'Integration.slackToken' };
const secret = 'xoxb-1234-5678-demo-slack-token';

const stored = await envelope.encrypt(secret, { context });
console.log('2. What the database stores for Integration.slackToken:');
console.log(`   ${stored}\n`);

const info = envelope.inspect(stored);
console.log(
  `3. What the token says about itself: provider=${info.providerId} keyRef=${info.keyRef}\n`,
);

const read = await envelope.decrypt(stored, { context });
console.log('4. What the application reads back:');
console.log(`   ${read}\n`);

const copied = await envelope
  .decrypt(stored, { context: { field: 'Webhook.signingSecret' } })
  .catch((error: { code: string }) => error.code);
console.log(
  `5. The same ciphertext pasted into another column does not decrypt: ${String(copied)}`,
);

await envelope.close();
