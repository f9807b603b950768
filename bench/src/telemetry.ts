/**
 * The cost of `@cmek/opentelemetry` on the 32 B hot path (issue 17: < 5%). Three envelopes over
 * the same `@cmek/provider-local` KEK (in-memory key) and default caches, timed side by side:
 *
 * - `none`: no `onEvent` (core builds no cache event at all);
 * - `empty listener`: `onEvent: () => {}` (what core pays to build and deliver one cache-hit
 *   event per value, whatever the listener does);
 * - `telemetry`: `cmekTelemetry()` over a real SDK `MeterProvider` (with a metric reader, so
 *   instruments are live, not no-ops) and a `BasicTracerProvider` with spans on.
 *
 * Encrypt hits the write DEK cache, decrypt the read cache: one `cache-hit` event per value, no
 * KEK call in the timed loop. Rounds as in `src/envelope.ts`: ROUNDS short rounds of TIME_MS per
 * task, sides back to back; ops/s are 1 / the median iteration of a round; ratios are the median
 * of per-round ratios.
 *
 *   pnpm --filter @cmek/bench bench:telemetry        # BENCH_ROUNDS=15 BENCH_TIME_MS=100
 */
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { type CmekEventListener, createEnvelope } from '@cmek/core';
import { cmekTelemetry } from '@cmek/opentelemetry';
import { createLocalKekProviderFromKey } from '@cmek/provider-local';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { Bench } from 'tinybench';
import { median } from './orm-support';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const TIME_MS = Number(process.env.BENCH_TIME_MS ?? 100);
const TARGET = 0.05;
const context = { field: 'users.email' };
const load = () =>
  loadavg()
    .map((n) => n.toFixed(2))
    .join(' ');
const loadBefore = load();

const reader = new PeriodicExportingMetricReader({
  exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
  exportIntervalMillis: 3_600_000,
});
const meterProvider = new MeterProvider({ readers: [reader] });
const tracerProvider = new BasicTracerProvider({
  spanProcessors: [new SimpleSpanProcessor(new InMemorySpanExporter())],
});
const telemetry = cmekTelemetry({ meterProvider, tracerProvider });

const kek = createLocalKekProviderFromKey(randomBytes(32));
const SIDES: { name: string; onEvent?: CmekEventListener }[] = [
  { name: 'none' },
  { name: 'empty listener', onEvent: () => undefined },
  { name: 'telemetry', onEvent: telemetry.onEvent },
];
const value = randomBytes(32).toString('base64url').slice(0, 32);

interface Task {
  readonly key: string;
  readonly side: string;
  readonly op: 'encrypt' | 'decrypt';
  readonly run: () => Promise<unknown>;
}
const tasks: Task[] = [];
const envelopes = [];
for (const side of SIDES) {
  const env = createEnvelope({ kek, ...(side.onEvent ? { onEvent: side.onEvent } : {}) });
  envelopes.push(env);
  const token = await env.encrypt(value, { context });
  if ((await env.decrypt(token, { context })) !== value) throw new Error('round trip failed');
  tasks.push(
    {
      key: `${side.name} encrypt`,
      side: side.name,
      op: 'encrypt',
      run: () => env.encrypt(value, { context }),
    },
    {
      key: `${side.name} decrypt`,
      side: side.name,
      op: 'decrypt',
      run: () => env.decrypt(token, { context }),
    },
  );
}

const hz = new Map<string, number[]>();
const ratios = new Map<string, number[]>();
const push = (map: Map<string, number[]>, key: string, n: number) => {
  map.set(key, [...(map.get(key) ?? []), n]);
};
for (let round = 0; round < ROUNDS; round++) {
  const bench = new Bench({ time: TIME_MS, warmupTime: round === 0 ? 200 : 20 });
  for (const t of tasks) bench.add(t.key, t.run);
  await bench.warmup();
  await bench.run();
  for (const task of bench.tasks) {
    if (task.result?.error) throw task.result.error;
    push(hz, task.name, 1000 / median(task.result?.samples ?? [Number.NaN]));
  }
  for (const op of ['encrypt', 'decrypt']) {
    const none = hz.get(`none ${op}`)!.at(-1)!;
    for (const side of SIDES) {
      if (side.name === 'none') continue;
      push(ratios, `${side.name} ${op}`, hz.get(`${side.name} ${op}`)!.at(-1)! / none);
    }
  }
  process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`);
}
await Promise.all(envelopes.map((e) => e.close()));
await meterProvider.shutdown();
await tracerProvider.shutdown();

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const pct = (r: number) => `${((1 - r) * 100).toFixed(1)}%`;
const lines = [
  `node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} x${cpus().length}, ${ROUNDS} rounds x ${TIME_MS} ms per task, load average ${loadBefore} before, ${load()} after`,
  '',
  '| operation (32 B) | no listener (ops/s) | empty listener (ops/s) | cmekTelemetry (ops/s) | overhead: empty listener | overhead: cmekTelemetry | target |',
  '|---|---:|---:|---:|---:|---:|---|',
];
const rows = [];
for (const op of ['encrypt', 'decrypt'] as const) {
  const empty = median(ratios.get(`empty listener ${op}`)!);
  const full = median(ratios.get(`telemetry ${op}`)!);
  const met = 1 - full < TARGET;
  rows.push({ op, empty, full, met });
  lines.push(
    `| ${op} | ${fmt(median(hz.get(`none ${op}`)!))} | ${fmt(median(hz.get(`empty listener ${op}`)!))} | ${fmt(median(hz.get(`telemetry ${op}`)!))} | ${pct(empty)} | ${pct(full)} | < ${TARGET * 100}%: ${met ? 'met' : '**missed**'} |`,
  );
}
console.log(lines.join('\n'));
console.log(JSON.stringify({ bench: 'telemetry', node: process.version, rounds: ROUNDS, rows }));
