/**
 * Blind indexes (issue 15): `indexer.compute` in HMAC mode on values of 32 B and 1 KiB, beside a
 * bare Node HMAC-SHA256 under one fixed key (the floor), a lookup during an index-key rotation
 * (`indexLookupValues`: one value under two keys), slow mode (scrypt, N = 2^14, r = 8, p = 1) both
 * synchronous and on libuv's thread pool, and `loadBlindIndexes` (one unwrap by
 * `@cmek/provider-local` over an in-memory KEK, plus the key-id check). Then the KEK calls: one
 * per key loaded, none per index computed. Exits 1 if a KEK call count differs from the design.
 *
 * Tasks run in ROUNDS short rounds of TIME_MS each (as `src/envelope.ts`); ops/s are 1 / the
 * median iteration time of a round, and the table gives their median over the rounds.
 *
 *   pnpm --filter @cmek/bench bench:blind-index      # BENCH_ROUNDS=15 BENCH_TIME_MS=100
 */
import { createHmac, randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import {
  type CmekEvent,
  createBlindIndexKey,
  DEFAULT_SLOW_COST,
  indexLookupValues,
  loadBlindIndexes,
} from '@cmek/core';
import { createLocalKekProviderFromKey } from '@cmek/provider-local';
import { Bench } from 'tinybench';
import { median } from './orm-support';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const TIME_MS = Number(process.env.BENCH_TIME_MS ?? 100);
const FIELD = 'users.email';

const load = () =>
  loadavg()
    .map((n) => n.toFixed(2))
    .join(' ');
const loadBefore = load();

const kek = createLocalKekProviderFromKey(randomBytes(32));
const events: CmekEvent[] = [];
const onEvent = (event: CmekEvent) => void events.push(event);
const keys = [
  await createBlindIndexKey(kek, { onEvent }),
  await createBlindIndexKey(kek, { onEvent }),
];
const kekCalls = () => events.filter((e) => e.type === 'kek-call').length;
const afterCreate = kekCalls();
const indexer = await loadBlindIndexes({ keys: [keys[0]!], kek, onEvent });
const rotating = await loadBlindIndexes({ keys, kek, onEvent });
const afterLoad = kekCalls();

const value32 = randomBytes(24).toString('base64url'); // 32 characters
const value1k = randomBytes(768).toString('base64url'); // 1,024 characters
const hmacKey = randomBytes(32);
const lookup = { label: FIELD, context: { field: FIELD }, index: { column: 'email_bidx' } };

interface Case {
  readonly name: string;
  readonly run: () => unknown;
}

const cases: Case[] = [
  {
    name: 'Node HMAC-SHA256, 32 B (floor)',
    run: () => createHmac('sha256', hmacKey).update(value32).digest(),
  },
  { name: 'compute, HMAC, 32 B', run: () => indexer.compute(FIELD, value32) },
  {
    name: 'Node HMAC-SHA256, 1 KiB (floor)',
    run: () => createHmac('sha256', hmacKey).update(value1k).digest(),
  },
  { name: 'compute, HMAC, 1 KiB', run: () => indexer.compute(FIELD, value1k) },
  {
    name: 'compute, HMAC, 32 B, trim + lowercase',
    run: () => indexer.compute(FIELD, value32, { normalize: ['trim', 'lowercase'] }),
  },
  {
    name: 'indexLookupValues, 2 keys, 32 B',
    run: () => indexLookupValues(rotating, lookup, [value32]),
  },
  {
    name: `compute, slow (cost ${DEFAULT_SLOW_COST}), 32 B, sync`,
    run: () => indexer.compute(FIELD, value32, { mode: 'slow' }),
  },
  {
    name: `computeAsync, slow (cost ${DEFAULT_SLOW_COST}), 32 B`,
    run: () => indexer.computeAsync(FIELD, value32, { mode: 'slow' }),
  },
  {
    name: 'loadBlindIndexes, 1 key (one unwrap)',
    run: async () => (await loadBlindIndexes({ keys: [keys[0]!], kek })).close(),
  },
];

for (const c of cases) await c.run(); // each runs once before it is timed
const beforeTimed = kekCalls();
const hz = new Map<string, number[]>();
for (let round = 0; round < ROUNDS; round++) {
  // `iterations: 10`: slow mode (tens of ms per call) stays within the time budget.
  const bench = new Bench({ time: TIME_MS, iterations: 10, warmupTime: round === 0 ? 200 : 20 });
  for (const c of cases) bench.add(c.name, c.run);
  await bench.warmup();
  await bench.run();
  for (const task of bench.tasks) {
    if (task.result?.error) throw task.result.error;
    const list = hz.get(task.name) ?? [];
    list.push(1000 / median(task.result?.samples ?? [Number.NaN]));
    hz.set(task.name, list);
  }
  process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`);
}
const timedCalls = kekCalls() - beforeTimed;
indexer.close();
rotating.close();
const loadAfter = load();

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number) =>
  n >= 1000 ? `${(n / 1000).toFixed(2)} µs` : `${(1000 / n).toFixed(1)} ms`;
console.log(
  `node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} x${cpus().length}, ` +
    `${ROUNDS} rounds x ${TIME_MS} ms per task, load average ${loadBefore} before, ${loadAfter} after`,
);
console.log('\n## Blind indexes\n');
console.log('| operation | ops/s | time per op |');
console.log('|---|---:|---:|');
for (const c of cases) {
  const ops = median(hz.get(c.name)!);
  const per = ops >= 1000 ? `${(1e6 / ops).toFixed(2)} µs` : ms(ops);
  console.log(`| ${c.name} | ${fmt(ops)} | ${per} |`);
}

console.log('\n## KEK calls\n');
const checks = [
  { what: 'createBlindIndexKey x2 (one generateDataKey each)', got: afterCreate, want: 2 },
  {
    what: 'loadBlindIndexes of 1 key, then of 2 keys (one unwrap per key)',
    got: afterLoad - afterCreate,
    want: 3,
  },
];
let ok = true;
for (const c of checks) {
  const pass = c.got === c.want;
  ok &&= pass;
  console.log(`- ${c.what}: ${c.got} (${pass ? 'as designed' : `**expected ${c.want}**`})`);
}
// The timed loads have no listener: every event during the timed rounds would come from a
// compute or a lookup through the two loaded indexers, and there must be none.
console.log(
  `- every timed compute and lookup: ${timedCalls} (${timedCalls === 0 ? 'as designed' : '**expected 0**'})`,
);
ok &&= timedCalls === 0;
if (!ok) process.exitCode = 1;
