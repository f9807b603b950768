/** What the encrypted-versus-plain ORM benches share: an in-process KEK, timing, medians, tables. */
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { CmekEvent, EncryptionContext, Envelope, KekProvider } from '@cmek/core';
import { createLocalKekProviderFromKey } from '@cmek/provider-local';

/** Issue 14: the ORM with the adapter takes at most this times the plain ORM's wall time. */
export const ORM_TARGET = 1.3;

/** A local KEK in memory, so the numbers measure the adapter and the core, not a KMS. */
export function memoryKek(): KekProvider {
  return createLocalKekProviderFromKey(randomBytes(32));
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

/** Counts the envelope's `kek-call` events: pass `onEvent` to `createEnvelope`. */
export function kekCallCounter(): { onEvent: (event: CmekEvent) => void; take: () => number } {
  let calls = 0;
  return {
    onEvent: (event) => {
      if (event.type === 'kek-call') calls++;
    },
    take: () => {
      const n = calls;
      calls = 0;
      return n;
    },
  };
}

/** Two secret values per row, shaped like OAuth tokens (48 and 64 characters). */
export function secretRows(
  count: number,
): { name: string; access_token: string; refresh_token: string }[] {
  return Array.from({ length: count }, (_, i) => ({
    name: `integration-${i}`,
    access_token: `xoxb-${randomBytes(18).toString('hex')}-${i.toString().padStart(6, '0')}`,
    refresh_token: `xoxe-${randomBytes(27).toString('hex')}-${i.toString().padStart(4, '0')}`,
  }));
}

/** The plain and the encrypted run of a round, in alternating order (ABBA): the first is at a disadvantage. */
export function roundOrder<T>(round: number, plain: T, encrypted: T): [T, T] {
  return round % 2 === 0 ? [plain, encrypted] : [encrypted, plain];
}

/** The timings of one phase (insert, select...) over the rounds, in milliseconds. */
export interface PhaseSamples {
  /** The plain ORM. */
  readonly plain: number[];
  /** The ORM with the cmek adapter, in the same round as `plain[i]`. */
  readonly encrypted: number[];
  /** The core's encryptMany / decryptMany alone on the same values. */
  readonly core: number[];
  /** The plain ORM moving ciphertext-sized values (the cost of longer values alone). */
  readonly ciphertext: number[];
  /** KEK calls the encrypted run made (counted through `onEvent`). */
  readonly kekCalls: number[];
}

export function emptySamples(): PhaseSamples {
  return { plain: [], encrypted: [], core: [], ciphertext: [], kekCalls: [] };
}

export interface PhaseResult {
  readonly phase: string;
  readonly plainMs: number;
  readonly encryptedMs: number;
  /** The median of the per-round ratios encrypted / plain. */
  readonly ratio: number;
  readonly coreCryptoMs: number;
  readonly plainOnCiphertextMs: number;
  readonly kekCallsPerRun: number;
}

export function summarize(phase: string, s: PhaseSamples): PhaseResult {
  const ms = (n: number): number => Number(n.toFixed(1));
  return {
    phase,
    plainMs: ms(median(s.plain)),
    encryptedMs: ms(median(s.encrypted)),
    ratio: Number(median(s.encrypted.map((e, i) => e / s.plain[i]!)).toFixed(2)),
    coreCryptoMs: ms(median(s.core)),
    plainOnCiphertextMs: ms(median(s.ciphertext)),
    kekCallsPerRun: median(s.kekCalls),
  };
}

export function loadAverage(): string {
  return loadavg()
    .map((n) => n.toFixed(2))
    .join(' ');
}

/**
 * Prints the bench's markdown table and one JSON line per phase, then a total row for the
 * `combined` phases (the sum of their medians).
 */
export function printPhases(
  bench: string,
  sizes: Record<string, number>,
  load: { before: string; after: string },
  results: PhaseResult[],
  combined: readonly string[],
): void {
  console.log(
    `${bench}: node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} x${cpus().length}, ` +
      `${Object.entries(sizes)
        .map(([k, v]) => `${k} ${v.toLocaleString('en-US')}`)
        .join(', ')}, load average ${load.before} before, ${load.after} after\n`,
  );
  console.log(
    '| phase | plain (ms) | with cmek (ms) | cmek / plain | target | KEK calls per run | core crypto alone (ms) | plain ORM on ciphertext (ms) |',
  );
  console.log('|---|---:|---:|---:|---|---:|---:|---:|');
  const verdict = (r: number) => `<= ${ORM_TARGET}x: ${r <= ORM_TARGET ? 'met' : '**missed**'}`;
  for (const r of results) {
    console.log(
      `| ${r.phase} | ${r.plainMs} | ${r.encryptedMs} | ${r.ratio.toFixed(2)}x | ${verdict(r.ratio)} | ${r.kekCallsPerRun} | ${r.coreCryptoMs} | ${r.plainOnCiphertextMs} |`,
    );
    console.log(JSON.stringify({ bench, ...sizes, ...r }));
  }
  const parts = results.filter((r) => combined.includes(r.phase));
  const plain = parts.reduce((a, r) => a + r.plainMs, 0);
  const encrypted = parts.reduce((a, r) => a + r.encryptedMs, 0);
  const ratio = encrypted / plain;
  console.log(
    `| ${combined.join(' + ')} | ${plain.toFixed(1)} | ${encrypted.toFixed(1)} | ${ratio.toFixed(2)}x | ${verdict(ratio)} | | | |`,
  );
  console.log(
    JSON.stringify({ bench, phase: combined.join('+'), ratio: Number(ratio.toFixed(2)), load }),
  );
}

/**
 * The core alone on the rows' secret values (one encryptMany and one decryptMany per field):
 * what the cryptography costs; `sealed` is a copy of the rows holding the tokens.
 */
export async function coreAlone<R extends Record<string, unknown>>(
  envelope: Envelope,
  rows: readonly R[],
  fields: readonly (keyof R & string)[],
  contextOf: (field: string) => EncryptionContext,
): Promise<{ encryptMs: number; decryptMs: number; sealed: Record<string, unknown>[] }> {
  const sealed: Record<string, unknown>[] = rows.map((r) => ({ ...r }));
  let encryptMs = 0;
  let decryptMs = 0;
  for (const field of fields) {
    const context = contextOf(field);
    const values = rows.map((r) => r[field] as string);
    let tokens: (string | null)[] = [];
    encryptMs += await timed(async () => {
      tokens = await envelope.encryptMany(values, { context });
    });
    decryptMs += await timed(() => envelope.decryptMany(tokens, { context }));
    tokens.forEach((t, i) => {
      sealed[i]![field] = t;
    });
  }
  return { encryptMs, decryptMs, sealed };
}

/** The secret columns of every ORM bench's table, beside a plain `name`. */
export const SECRET_COLUMNS = ['access_token', 'refresh_token'] as const;

/** One row of `secretRows`. */
export type SecretRow = ReturnType<typeof secretRows>[number];

/** What an insert-then-select bench needs of its ORM, for a side (`S`: a client or a model). */
export interface InsertSelectBench<S, R> {
  readonly plain: S;
  readonly encrypted: S;
  readonly rows: readonly SecretRow[];
  readonly envelope: Envelope;
  readonly counter: { take(): number };
  /** The context the adapter binds a column's values to (for the core-alone baseline). */
  contextOf(column: string): EncryptionContext;
  /** Empties the side's table: each run writes it afresh. */
  truncate(side: S): Promise<unknown>;
  insert(side: S, rows: readonly Record<string, unknown>[]): Promise<unknown>;
  select(side: S): Promise<readonly R[]>;
  /** A column of a selected row. */
  valueOf(row: R, column: string): unknown;
}

/**
 * The rounds of an insert-then-select bench: a warm-up round, then `runs` rounds each running the
 * plain and the encrypted side (in `roundOrder`), checking that the encrypted side reads back the
 * plaintext, then the baselines (the core alone, and the plain side moving the ready-made tokens).
 */
export async function insertSelectRounds<S, R>(
  bench: InsertSelectBench<S, R>,
  runs: number,
): Promise<{ insert: PhaseSamples; select: PhaseSamples }> {
  const insert = emptySamples();
  const select = emptySamples();
  const { rows, counter } = bench;
  const run = async (side: S, keep: boolean, into: 'plain' | 'encrypted') => {
    await bench.truncate(side);
    counter.take();
    const i = await timed(() => bench.insert(side, rows));
    const insertCalls = counter.take();
    let selected: readonly R[] = [];
    const s = await timed(async () => {
      selected = await bench.select(side);
    });
    const selectCalls = counter.take();
    if (selected.length !== rows.length) throw new Error('row count mismatch');
    const first = selected.find((r) => bench.valueOf(r, 'name') === rows[0]!.name)!;
    if (SECRET_COLUMNS.some((c) => bench.valueOf(first, c) !== rows[0]![c])) {
      throw new Error(`${into}: not plaintext`);
    }
    if (!keep) return;
    insert[into].push(i);
    select[into].push(s);
    if (into === 'encrypted') {
      insert.kekCalls.push(insertCalls);
      select.kekCalls.push(selectCalls);
    }
  };
  for (let round = -1; round < runs; round++) {
    const keep = round >= 0;
    for (const [side, into] of roundOrder(
      round,
      [bench.plain, 'plain'] as const,
      [bench.encrypted, 'encrypted'] as const,
    )) {
      await run(side, keep, into);
    }
    // Where the time goes: the core alone, and the plain ORM on ciphertext.
    const { encryptMs, decryptMs, sealed } = await coreAlone(
      bench.envelope,
      rows,
      SECRET_COLUMNS,
      (c) => bench.contextOf(c),
    );
    await bench.truncate(bench.plain);
    const cInsert = await timed(() => bench.insert(bench.plain, sealed));
    const cSelect = await timed(() => bench.select(bench.plain));
    if (keep) {
      insert.core.push(encryptMs);
      select.core.push(decryptMs);
      insert.ciphertext.push(cInsert);
      select.ciphertext.push(cSelect);
    }
  }
  return { insert, select };
}
