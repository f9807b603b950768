/**
 * The KEK calls the envelope makes, counted through its `onEvent` `kek-call` events, in the
 * scenarios whose counts the design fixes: one `generateDataKey` per DEK on write, one unwrap
 * per distinct DEK on read (single `decrypt`s in flight together, and `decryptMany`), and one
 * `generateDataKey` for N concurrent encrypts on a cold cache. Each row says what it expected.
 */
import { randomBytes } from 'node:crypto';
import { type CmekEvent, createEnvelope, type Envelope } from '@cmek/core';
import { createLocalKekProviderFromKey } from '@cmek/provider-local';

const VALUES = 25_000;
const CONCURRENT = 100;
const PAGE = 1_000;
const context = { field: 'users.email' };

export interface KekCallRow {
  readonly scenario: string;
  /** KEK calls, by operation. */
  readonly calls: string;
  /** DEKs those calls handled (an `unwrapMany` handles several). */
  readonly deks: number;
  readonly expected: number;
  readonly ok: boolean;
}

interface Counted {
  readonly envelope: Envelope;
  /** Calls and DEKs since the last `take()`. */
  take(): { calls: Record<string, number>; deks: number };
}

function counted(kek: Uint8Array): Counted {
  let calls: Record<string, number> = {};
  let deks = 0;
  const onEvent = (event: CmekEvent): void => {
    if (event.type !== 'kek-call') return;
    calls[event.operation] = (calls[event.operation] ?? 0) + 1;
    deks += event.count;
  };
  const envelope = createEnvelope({ kek: createLocalKekProviderFromKey(kek), onEvent });
  return {
    envelope,
    take() {
      const out = { calls, deks };
      calls = {};
      deks = 0;
      return out;
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

/** Runs the scenarios (about a second); `ok` is false where a count differs from the design. */
export async function kekCallCounts(): Promise<KekCallRow[]> {
  const kek = randomBytes(32);
  const values = Array.from({ length: VALUES }, (_, i) => `user-${i}@example.com`);
  const rows: KekCallRow[] = [];
  const row = (scenario: string, taken: ReturnType<Counted['take']>, expected: number) => {
    const total = Object.values(taken.calls).reduce((a, b) => a + b, 0);
    rows.push({
      scenario,
      calls: Object.entries(taken.calls)
        .map(([op, n]) => `${n} ${op}`)
        .join(', '),
      deks: taken.deks,
      expected,
      ok: total === expected && taken.deks === expected,
    });
  };

  // Write: the default cache, one value at a time; a DEK serves 10,000 values.
  const writer = counted(kek);
  const tokens: string[] = [];
  for (const value of values) tokens.push(await writer.envelope.encrypt(value, { context }));
  const distinct = new Set(tokens.map((t) => writer.envelope.inspect(t).dekId)).size;
  row(`write: ${VALUES.toLocaleString('en-US')} sequential encrypts`, writer.take(), distinct);

  // Read, cold reader: single decrypts, CONCURRENT in flight.
  const reader = counted(kek);
  const read = await inBatches(tokens, CONCURRENT, (t) => reader.envelope.decrypt(t, { context }));
  if (read.some((v, i) => v !== values[i])) throw new Error('decrypt returned another value');
  row(
    `read: ${VALUES.toLocaleString('en-US')} decrypts, ${CONCURRENT} in flight`,
    reader.take(),
    distinct,
  );

  // Read, cold reader: decryptMany in pages.
  const pager = counted(kek);
  for (let i = 0; i < tokens.length; i += PAGE) {
    await pager.envelope.decryptMany(tokens.slice(i, i + PAGE), { context });
  }
  row(`read: decryptMany, pages of ${PAGE.toLocaleString('en-US')}`, pager.take(), distinct);

  // Cold cache: CONCURRENT encrypts at once share one generateDataKey.
  const cold = counted(kek);
  await Promise.all(values.slice(0, CONCURRENT).map((v) => cold.envelope.encrypt(v, { context })));
  row(`cold cache: ${CONCURRENT} concurrent encrypts`, cold.take(), 1);

  // Cold cache: CONCURRENT decrypts of one DEK at once share one unwrap.
  const coldReader = counted(kek);
  await Promise.all(
    tokens.slice(0, CONCURRENT).map((t) => coldReader.envelope.decrypt(t, { context })),
  );
  row(`cold cache: ${CONCURRENT} concurrent decrypts, one DEK`, coldReader.take(), 1);

  for (const c of [writer, reader, pager, cold, coldReader]) await c.envelope.close();
  return rows;
}
