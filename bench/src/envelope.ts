/**
 * `@cmek/core` envelope encrypt / decrypt with a cached DEK, beside plain Node-crypto Fernet with
 * one fixed key, in the same process and the same rounds. Values are strings of 32 B, 1 KiB and
 * 64 KiB under an adapter-style context `{ field: 'users.email' }`; both sides take a string and
 * return a string (UTF-8 both ways). The KEK is `@cmek/provider-local` over an in-memory key: with
 * the DEK cached it is called once per 10,000 encrypts (the default `dekCache.maxUses`) and never
 * on decrypt (the read cache is warm).
 *
 * Tasks run in ROUNDS short rounds (default 15) of TIME_MS each (default 100 ms per task), the
 * Fernet and the cmek task of one case back to back, so that a busy machine slows both sides of a
 * ratio alike. Ops/s are 1 / the median iteration time of a round (robust to the odd preempted
 * iteration); the table gives their median over the rounds and the median of the per-round ratios
 * cmek / Fernet.
 *
 *   pnpm --filter @cmek/bench bench:envelope        # BENCH_ROUNDS=15 BENCH_TIME_MS=100
 */
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { createEnvelope } from '@cmek/core';
import { createLocalKekProviderFromKey } from '@cmek/provider-local';
import { Bench } from 'tinybench';
import { plainFernet } from './fernet-baseline';

const SIZES = [32, 1024, 64 * 1024];
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const TIME_MS = Number(process.env.BENCH_TIME_MS ?? 100);
const TARGET_32B = 0.7;
const context = { field: 'users.email' };

function label(size: number): string {
  return size >= 1024 ? `${size / 1024} KiB` : `${size} B`;
}

function asciiString(size: number): string {
  return randomBytes(size).toString('base64url').slice(0, size);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const env = createEnvelope({ kek: createLocalKekProviderFromKey(randomBytes(32)) });
const fernet = plainFernet();

interface Case {
  size: number;
  op: 'encrypt' | 'decrypt';
  fernet: () => unknown;
  cmek: () => Promise<unknown>;
}

const cases: Case[] = [];
for (const size of SIZES) {
  const value = asciiString(size);
  const token = await env.encrypt(value, { context });
  const fernetToken = fernet.encrypt(Buffer.from(value, 'utf8'));
  // Both sides must round trip before they are timed.
  if ((await env.decrypt(token, { context })) !== value) throw new Error('cmek round trip failed');
  if (fernet.decrypt(fernetToken).toString('utf8') !== value) throw new Error('fernet failed');
  cases.push(
    {
      size,
      op: 'encrypt',
      fernet: () => fernet.encrypt(Buffer.from(value, 'utf8')),
      cmek: () => env.encrypt(value, { context }),
    },
    {
      size,
      op: 'decrypt',
      fernet: () => fernet.decrypt(fernetToken).toString('utf8'),
      cmek: () => env.decrypt(token, { context }),
    },
  );
}

const hz = new Map<string, number[]>();
const ratios = new Map<string, number[]>();
for (let round = 0; round < ROUNDS; round++) {
  const bench = new Bench({ time: TIME_MS, warmupTime: round === 0 ? 200 : 20 });
  for (const c of cases) {
    bench.add(`fernet ${c.op} ${label(c.size)}`, c.fernet);
    bench.add(`cmek ${c.op} ${label(c.size)}`, c.cmek);
  }
  await bench.warmup();
  await bench.run();
  for (const task of bench.tasks) {
    if (task.result?.error) throw task.result.error;
    const list = hz.get(task.name) ?? [];
    // ops/s from the median iteration time: a preempted iteration (the machine is shared) moves
    // the mean, not the median.
    list.push(1000 / median(task.result?.samples ?? [Number.NaN]));
    hz.set(task.name, list);
  }
  for (const c of cases) {
    const key = `${c.op} ${label(c.size)}`;
    const f = hz.get(`fernet ${key}`)!.at(-1)!;
    const e = hz.get(`cmek ${key}`)!.at(-1)!;
    const list = ratios.get(key) ?? [];
    list.push(e / f);
    ratios.set(key, list);
  }
  process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`);
}
await env.close();

const rows = cases.map((c) => {
  const key = `${c.op} ${label(c.size)}`;
  return {
    op: c.op,
    size: label(c.size),
    fernet: Math.round(median(hz.get(`fernet ${key}`)!)),
    cmek: Math.round(median(hz.get(`cmek ${key}`)!)),
    ratio: median(ratios.get(key)!),
  };
});

const fmt = (n: number) => n.toLocaleString('en-US');
console.log(
  `node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} x${cpus().length}, ${ROUNDS} rounds x ${TIME_MS} ms per task`,
);
console.log('');
console.log('| operation | value | Node Fernet (ops/s) | cmek envelope (ops/s) | cmek / Fernet |');
console.log('|---|---|---:|---:|---:|');
for (const r of rows) {
  console.log(
    `| ${r.op} | ${r.size} | ${fmt(r.fernet)} | ${fmt(r.cmek)} | ${r.ratio.toFixed(2)}x |`,
  );
}
console.log('');
for (const r of rows.filter((row) => row.size === '32 B')) {
  const verdict = r.ratio >= TARGET_32B ? 'meets' : 'MISSES';
  console.log(`${r.op} 32 B: ${r.ratio.toFixed(2)}x ${verdict} the target of >= ${TARGET_32B}x`);
}
console.log(
  JSON.stringify({
    bench: 'envelope',
    node: process.version,
    rounds: ROUNDS,
    timeMs: TIME_MS,
    rows,
  }),
);
