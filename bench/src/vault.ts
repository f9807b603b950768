/**
 * What `@cmek/provider-vault` costs in Transit HTTP requests and time, against the dev-mode Vault
 * of `scripts/services/vault.sh`: N encrypts and N decrypts (values of 40 B under
 * `{ field: 'integrations.token' }`), counted by a wrapper around node-vault's `request` (one
 * count per HTTP request), by Transit path.
 *
 * Scenarios (N = BENCH_N, default 10,000):
 *   1. default caches, 100 concurrent encrypts, then a cold reader decrypting 100 at a time;
 *   2. no caches (one DEK per value), then a cold reader's `decryptMany` in pages of 1,000:
 *      the read side's misses go to `unwrapMany`, `batch_input` of 250 per request;
 *   3. the same N DEKs opened one `decrypt` request each (`decryptCache: false`, 100 at a time).
 *
 * Needs CMEK_VAULT_ADDR and CMEK_VAULT_TOKEN (bash scripts/services/up.sh vault).
 *
 *   pnpm --filter @cmek/bench bench:vault     # BENCH_N=10000
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createEnvelope, type Envelope } from '@cmek/core';
import { createVaultKekProvider, type VaultClient } from '@cmek/provider-vault';
// node-vault is the provider's dependency, not the bench's: its factory is reached through the source.
import { createNodeVaultClient } from '../../packages/provider-vault/src/client';

const N = Number(process.env.BENCH_N ?? 10_000);
const CONCURRENCY = 100;
const PAGE = 1000;
const context = { field: 'integrations.token' };

function countingClient(endpoint: string): { client: VaultClient; counts: Map<string, number> } {
  const inner = createNodeVaultClient(endpoint);
  const counts = new Map<string, number>();
  return {
    counts,
    client: {
      request(options) {
        const op = options.path.split('/').slice(2, -1).join('/');
        counts.set(op, (counts.get(op) ?? 0) + 1);
        return inner.request(options);
      },
    },
  };
}

async function inBatches<T, R>(items: readonly T[], size: number, run: (item: T) => Promise<R>) {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size) {
    out.push(...(await Promise.all(items.slice(i, i + size).map(run))));
  }
  return out;
}

interface Row {
  scenario: string;
  phase: string;
  values: number;
  requests: string;
  ms: number;
  'values/s': number;
}

async function main(): Promise<void> {
  const addr = process.env.CMEK_VAULT_ADDR;
  const token = process.env.CMEK_VAULT_TOKEN;
  if (!addr || !token)
    throw new Error('set CMEK_VAULT_ADDR and CMEK_VAULT_TOKEN (scripts/services/up.sh vault)');
  const keyName = `bench-${randomBytes(4).toString('hex')}`;
  const created = await fetch(`${addr}/v1/transit/keys/${keyName}`, {
    method: 'POST',
    headers: { 'X-Vault-Token': token },
  });
  if (!created.ok) throw new Error(`creating the Transit key: ${created.status}`);

  const { client, counts } = countingClient(addr);
  const kek = () => createVaultKekProvider({ client, token, keyName });
  const envelopes: Envelope[] = [];
  const envelope = (options: Parameters<typeof createEnvelope>[0]): Envelope => {
    const e = createEnvelope(options);
    envelopes.push(e);
    return e;
  };
  const values = Array.from(
    { length: N },
    (_, i) => `xoxb-${i.toString().padStart(8, '0')}-${'s'.repeat(26)}`,
  );
  const rows: Row[] = [];
  const measure = async (scenario: string, phase: string, run: () => Promise<unknown>) => {
    counts.clear();
    const started = performance.now();
    await run();
    const ms = performance.now() - started;
    rows.push({
      scenario,
      phase,
      values: N,
      requests: [...counts.entries()].map(([op, n]) => `${op} ${n}`).join(', '),
      ms: Math.round(ms),
      'values/s': Math.round((N / ms) * 1000),
    });
  };

  let cached: string[] = [];
  const writer = envelope({ kek: kek() });
  await measure('default caches', 'encrypt', async () => {
    cached = await inBatches(values, CONCURRENCY, (v) => writer.encrypt(v, { context }));
  });
  const reader = envelope({ kek: kek() });
  await measure('default caches', 'decrypt', () =>
    inBatches(cached, CONCURRENCY, (t) => reader.decrypt(t, { context })),
  );

  let distinct: string[] = [];
  const perValue = envelope({ kek: kek(), dekCache: false });
  await measure('one DEK per value', 'encrypt', async () => {
    distinct = await inBatches(values, CONCURRENCY, (v) => perValue.encrypt(v, { context }));
  });
  const batchReader = envelope({ kek: kek(), decryptCache: { maxEntries: PAGE } });
  await measure('one DEK per value', `decryptMany (pages of ${PAGE})`, async () => {
    for (let i = 0; i < distinct.length; i += PAGE) {
      await batchReader.decryptMany(distinct.slice(i, i + PAGE), { context });
    }
  });
  const singleReader = envelope({ kek: kek(), decryptCache: false });
  await measure('one DEK per value', `decrypt, ${CONCURRENCY} at a time`, () =>
    inBatches(distinct, CONCURRENCY, (t) => singleReader.decrypt(t, { context })),
  );

  await Promise.all(envelopes.map((e) => e.close()));
  console.log(`vault provider against ${addr}, ${N} values per phase`);
  console.table(rows);
}

await main();
