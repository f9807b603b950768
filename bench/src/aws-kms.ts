/**
 * What `@cmek/provider-aws-kms` costs in KMS calls: 10,000 encrypts and 10,000 decrypts through an
 * envelope with the DEFAULT cache settings (write side: one DEK for 10,000 values or 10 minutes;
 * read side: an LRU of 1,000 unwrapped DEKs for 10 minutes), against the moto server. Calls are
 * counted by a middleware on the KMS client (one count per API call, retries not included), by
 * operation; a second counter at the HTTP layer counts attempts.
 *
 * Scenarios (N = BENCH_N, default 10,000; values of 40 B under `{ field: 'integrations.token' }`):
 *   1. one writer, N sequential encrypts, then a cold reader (another process) decrypting all N;
 *   2. the same with the N encrypts issued 100 at a time (single-flight: concurrent misses share
 *      one GenerateDataKey), and the N decrypts 100 at a time on a cold reader;
 *   3. the baseline without caches (`dekCache: false`, `decryptCache: false`): one KMS call per
 *      value, what a naive "KMS per field" design costs (BENCH_BASELINE_N values, default 2,000:
 *      the table gives calls per 10,000 values).
 * KMS prices requests per 10,000 (US$0.03 in most regions, 2025); the table converts.
 *
 * Needs CMEK_KMS_ENDPOINT (bash scripts/services/up.sh moto).
 *
 *   pnpm --filter @cmek/bench bench:aws-kms     # BENCH_N=10000 BENCH_BASELINE_N=2000
 */
import { performance } from 'node:perf_hooks';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { createEnvelope, type Envelope } from '@cmek/core';
import { createAwsKmsKekProvider } from '@cmek/provider-aws-kms';

const N = Number(process.env.BENCH_N ?? 10_000);
/** Values of the no-cache baseline: one KMS call each, so fewer (the table normalizes per 10k). */
const BASELINE_N = Math.min(N, Number(process.env.BENCH_BASELINE_N ?? 2_000));
const CONCURRENCY = 100;
const PRICE_PER_10K_USD = 0.03;
const context = { field: 'integrations.token' };

interface Counts {
  calls: Record<string, number>;
  attempts: number;
}

/** A KMS client whose calls and HTTP attempts are counted. */
function countingClient(endpoint: string): { client: KMSClient; counts: Counts } {
  const counts: Counts = { calls: {}, attempts: 0 };
  const client = new KMSClient({
    region: 'us-east-1',
    endpoint,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
  client.middlewareStack.add(
    (next, ctx) => async (args) => {
      const name = String(ctx.commandName ?? 'unknown').replace(/Command$/, '');
      counts.calls[name] = (counts.calls[name] ?? 0) + 1;
      return next(args);
    },
    { step: 'initialize', name: 'cmekBenchCountCalls' },
  );
  client.middlewareStack.add(
    (next) => async (args) => {
      counts.attempts++;
      return next(args);
    },
    { step: 'finalizeRequest', name: 'cmekBenchCountAttempts', priority: 'low' },
  );
  return { client, counts };
}

function snapshot(counts: Counts): Counts {
  return { calls: { ...counts.calls }, attempts: counts.attempts };
}

function delta(after: Counts, before: Counts): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, n] of Object.entries(after.calls)) {
    const d = n - (before.calls[name] ?? 0);
    if (d > 0) out[name] = d;
  }
  return out;
}

async function inBatches<T, R>(
  items: readonly T[],
  size: number,
  run: (item: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size) {
    out.push(...(await Promise.all(items.slice(i, i + size).map(run))));
  }
  return out;
}

interface Row {
  scenario: string;
  phase: 'encrypt' | 'decrypt';
  values: number;
  kmsCalls: Record<string, number>;
  httpAttempts: number;
  ms: number;
}

async function measure(
  counts: Counts,
  scenario: string,
  phase: Row['phase'],
  run: () => Promise<unknown>,
  values = N,
): Promise<Row> {
  const before = snapshot(counts);
  const started = performance.now();
  await run();
  const ms = performance.now() - started;
  return {
    scenario,
    phase,
    values,
    kmsCalls: delta(counts, before),
    httpAttempts: counts.attempts - before.attempts,
    ms: Math.round(ms),
  };
}

async function main(): Promise<void> {
  const endpoint = process.env.CMEK_KMS_ENDPOINT;
  if (!endpoint) throw new Error('set CMEK_KMS_ENDPOINT (bash scripts/services/up.sh moto)');
  const { client, counts } = countingClient(endpoint);
  const admin = new KMSClient({
    region: 'us-east-1',
    endpoint,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
  const created = await admin.send(new CreateKeyCommand({ Description: 'cmek bench' }));
  admin.destroy();
  const keyId = created.KeyMetadata?.Arn;
  if (!keyId) throw new Error('CreateKey answered without an ARN');
  const kek = () => createAwsKmsKekProvider({ keyId, client, encryptionContext: { app: 'bench' } });
  const values = Array.from(
    { length: N },
    (_, i) => `xoxb-${i.toString().padStart(8, '0')}-${'s'.repeat(26)}`,
  );
  const rows: Row[] = [];
  const envelopes: Envelope[] = [];
  const envelope = (options: { caches: boolean }): Envelope => {
    const e = options.caches
      ? createEnvelope({ kek: kek() })
      : createEnvelope({ kek: kek(), dekCache: false, decryptCache: false });
    envelopes.push(e);
    return e;
  };

  // 1. Default caches, sequential.
  {
    const writer = envelope({ caches: true });
    let tokens: string[] = [];
    rows.push(
      await measure(counts, 'default caches, sequential', 'encrypt', async () => {
        tokens = [];
        for (const v of values) tokens.push(await writer.encrypt(v, { context }));
      }),
    );
    const reader = envelope({ caches: true });
    rows.push(
      await measure(counts, 'default caches, sequential', 'decrypt', async () => {
        for (const t of tokens) await reader.decrypt(t, { context });
      }),
    );
  }
  // 2. Default caches, 100 in flight.
  {
    const writer = envelope({ caches: true });
    let tokens: string[] = [];
    rows.push(
      await measure(counts, `default caches, ${CONCURRENCY} concurrent`, 'encrypt', async () => {
        tokens = await inBatches(values, CONCURRENCY, (v) => writer.encrypt(v, { context }));
      }),
    );
    const reader = envelope({ caches: true });
    rows.push(
      await measure(counts, `default caches, ${CONCURRENCY} concurrent`, 'decrypt', async () => {
        await inBatches(tokens, CONCURRENCY, (t) => reader.decrypt(t, { context }));
      }),
    );
  }
  // 3. No caches: one KMS call per value.
  {
    const e = envelope({ caches: false });
    let tokens: string[] = [];
    const some = values.slice(0, BASELINE_N);
    rows.push(
      await measure(
        counts,
        'no caches (baseline)',
        'encrypt',
        async () => {
          tokens = await inBatches(some, CONCURRENCY, (v) => e.encrypt(v, { context }));
        },
        BASELINE_N,
      ),
    );
    rows.push(
      await measure(
        counts,
        'no caches (baseline)',
        'decrypt',
        () => inBatches(tokens, CONCURRENCY, (t) => e.decrypt(t, { context })),
        BASELINE_N,
      ),
    );
  }

  console.log(
    `aws-kms against moto (${endpoint}), ${N} values per phase (${BASELINE_N} without caches)`,
  );
  console.table(
    rows.map((r) => {
      const total = Object.values(r.kmsCalls).reduce((a, b) => a + b, 0);
      return {
        scenario: r.scenario,
        phase: r.phase,
        values: r.values,
        'KMS calls': Object.entries(r.kmsCalls)
          .map(([k, v]) => `${v} ${k}`)
          .join(', '),
        'calls per 10k values': Number(((total * 10_000) / r.values).toFixed(2)),
        'US$ per 1M values': Number(
          ((total / r.values) * 1e6 * (PRICE_PER_10K_USD / 10_000)).toFixed(4),
        ),
        'wall ms (moto, loopback)': r.ms,
      };
    }),
  );
  for (const r of rows) console.log(JSON.stringify(r));
  for (const e of envelopes) await e.close();
  client.destroy();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
