/**
 * Vault (or OpenBao) Transit as the KEK: many values cost one `datakey` call; a reader opens them
 * with one `decrypt`; after the Transit key is rotated, `rewrap` moves the wrapped DEK to the new
 * key version inside Vault (the DEK never leaves it) and the values still read.
 *
 *   scripts/services/up.sh vault && pnpm --filter @cmek/example-vault start
 */
import { randomBytes } from 'node:crypto';
import {
  CmekError,
  type CmekEvent,
  createEnvelope,
  createKeyring,
  type Row,
  type RowStore,
} from '@cmek/core';
import { rewrap } from '@cmek/core/engine';
import { createVaultKekProvider } from '@cmek/provider-vault';
import { serviceVariable } from './service-url';

const endpoint = serviceVariable('CMEK_VAULT_ADDR');
const token = serviceVariable('CMEK_VAULT_TOKEN');
if (!endpoint || !token) {
  console.error(
    'Set CMEK_VAULT_ADDR and CMEK_VAULT_TOKEN, or start Vault with: scripts/services/up.sh vault',
  );
  process.exit(1);
}

async function transit(path: string, body: Record<string, unknown> = {}): Promise<void> {
  const response = await fetch(`${endpoint}/v1/transit/${path}`, {
    method: 'POST',
    headers: { 'X-Vault-Token': token!, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`Vault answered ${response.status} to transit/${path}`);
}

/** The smallest RowStore: an in-memory table, to show the engine without a database. */
function memoryStore(rows: Map<number, string>): RowStore {
  return {
    name: 'integrations',
    fields: ['token'],
    contextFor: () => ({ field: 'Integration.token' }),
    async scan(after, limit): Promise<Row[]> {
      return [...rows.keys()]
        .filter((id) => after === undefined || id > Number(after))
        .sort((a, b) => a - b)
        .slice(0, limit)
        .map((id) => ({ id, values: { token: rows.get(id)! } }));
    },
    async compareAndSet(id, _field, expected, next) {
      if (rows.get(Number(id)) !== expected) return false;
      rows.set(Number(id), next);
      return true;
    },
  };
}

const versionOf = (stored: string): string =>
  /vault:v(\d+):/.exec(
    Buffer.from(stored.slice(8).split('|')[0]!, 'base64url').toString('latin1'),
  )?.[1] ?? '?';

async function main(): Promise<void> {
  const keyName = `example-${randomBytes(4).toString('hex')}`;
  await transit(`keys/${keyName}`);
  console.log(`1. A Transit key transit/${keyName} on ${endpoint}.`);

  const calls = new Map<string, number>();
  const count = (event: CmekEvent): void => {
    if (event.type === 'kek-call')
      calls.set(event.operation, (calls.get(event.operation) ?? 0) + 1);
  };
  const kek = createVaultKekProvider({ endpoint: endpoint!, token: token!, keyName });
  const writer = createEnvelope({ kek, onEvent: count });
  const context = { field: 'Integration.token' };
  const secrets = ['xoxb-acme', 'xoxb-globex', 'xoxb-initech'];
  const rows = new Map<number, string>();
  for (const [i, secret] of secrets.entries())
    rows.set(i + 1, await writer.encrypt(secret, { context }));
  console.log(
    `\n2. ${secrets.length} values encrypted; Transit calls: datakey ×${calls.get('generateDataKey') ?? 0}`,
  );
  console.log(
    `   stored: ${rows.get(1)!.slice(0, 48)}… (DEK wrapped as vault:v${versionOf(rows.get(1)!)})`,
  );

  calls.clear();
  const reader = createEnvelope({
    kek: createVaultKekProvider({ endpoint: endpoint!, token: token!, keyName }),
    onEvent: count,
  });
  const read = await reader.decryptMany([...rows.values()], { context });
  console.log(`\n3. A new reader decrypts them all: ${read.join(', ')}`);
  console.log(
    `   Transit calls: decrypt ×${(calls.get('unwrap') ?? 0) + (calls.get('unwrapMany') ?? 0)}`,
  );

  await transit(`keys/${keyName}/rotate`);
  calls.clear();
  const report = await rewrap(memoryStore(rows), {
    keyring: createKeyring({ primary: kek }),
    includePrimary: true,
  });
  console.log(
    '\n4. The Transit key is rotated; cmek rotate --include-primary moves the DEK inside Vault:',
  );
  console.log(
    `   ${report.fields.token!.written} values rewritten; DEK now wrapped as vault:v${versionOf(rows.get(1)!)}`,
  );
  const fresh = createEnvelope({
    kek: createVaultKekProvider({ endpoint: endpoint!, token: token!, keyName }),
  });
  console.log(
    `   still reads: ${(await fresh.decryptMany([...rows.values()], { context })).join(', ')}`,
  );
  await Promise.all([writer.close(), reader.close(), fresh.close()]);
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
