/**
 * @cmek/adapter-knex against plain Knex on PostgreSQL: 10,000 rows with two secret columns
 * (`access_token`, `refresh_token`) beside a plain `name`; insert them (one multi-row insert, as
 * an application importing a batch would), then select them back. Target: <= 1.3x the plain
 * Knex's wall time. Each of BENCH_RUNS rounds (after one warm-up round) times the plain and the
 * encrypted run back to back, in alternating order; the ratio is the median of the per-round
 * ratios. Beside it: the KEK calls of the encrypted run, the core's encryptMany / decryptMany
 * alone on the same values, and plain Knex moving ready-made ciphertext.
 *
 * Needs CMEK_PG_URL (bash scripts/services/up.sh postgres).
 */
import { withCmek } from '@cmek/adapter-knex';
import { createEnvelope } from '@cmek/core';
import knexFactory, { type Knex } from 'knex';
import {
  coreAlone,
  emptySamples,
  kekCallCounter,
  loadAverage,
  memoryKek,
  printPhases,
  roundOrder,
  secretRows,
  summarize,
  timed,
} from './orm-support';

const ROWS = 10_000;
const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const SECRETS = ['access_token', 'refresh_token'] as const;

async function main(): Promise<void> {
  const url = process.env.CMEK_PG_URL;
  if (!url) throw new Error('set CMEK_PG_URL (bash scripts/services/up.sh postgres)');
  const before = loadAverage();
  const plain: Knex = knexFactory({ client: 'pg', connection: url, pool: { min: 1, max: 2 } });
  const table = `bench_knex_${process.pid}`;
  const counter = kekCallCounter();
  const envelope = createEnvelope({ kek: memoryKek(), onEvent: counter.onEvent });
  const encrypted = withCmek(plain, { envelope, tables: { [table]: { columns: [...SECRETS] } } });
  const rows = secretRows(ROWS);

  await plain.schema.dropTableIfExists(table);
  await plain.schema.createTable(table, (t) => {
    t.increments('id').primary();
    t.text('name');
    for (const c of SECRETS) t.text(c);
  });

  const insert = emptySamples();
  const select = emptySamples();
  const run = async (db: Knex, keep: boolean, into: 'plain' | 'encrypted') => {
    await plain(table).truncate();
    counter.take();
    const i = await timed(() => db(table).insert(rows));
    const insertCalls = counter.take();
    let selected: Record<string, unknown>[] = [];
    const s = await timed(async () => {
      selected = await db(table).select('id', 'name', ...SECRETS);
    });
    const selectCalls = counter.take();
    if (selected.length !== ROWS) throw new Error('row count mismatch');
    const first = selected.find((r) => r.name === rows[0]!.name)!;
    if (SECRETS.some((c) => first[c] !== rows[0]![c])) throw new Error(`${into}: not plaintext`);
    if (!keep) return;
    insert[into].push(i);
    select[into].push(s);
    if (into === 'encrypted') {
      insert.kekCalls.push(insertCalls);
      select.kekCalls.push(selectCalls);
    }
  };
  try {
    for (let round = -1; round < RUNS; round++) {
      const keep = round >= 0;
      for (const [db, into] of roundOrder(
        round,
        [plain, 'plain'] as const,
        [encrypted, 'encrypted'] as const,
      )) {
        await run(db, keep, into);
      }
      // Where the time goes: the core alone, and plain Knex on ciphertext.
      const {
        encryptMs: core,
        decryptMs: coreRead,
        sealed,
      } = await coreAlone(envelope, rows, SECRETS, (c) => ({ field: `${table}.${c}` }));
      await plain(table).truncate();
      const cInsert = await timed(() => plain(table).insert(sealed));
      const cSelect = await timed(() => plain(table).select('id', 'name', ...SECRETS));
      if (keep) {
        insert.core.push(core);
        select.core.push(coreRead);
        insert.ciphertext.push(cInsert);
        select.ciphertext.push(cSelect);
      }
    }
  } finally {
    await plain.schema.dropTableIfExists(table);
    await plain.destroy();
    await envelope.close();
  }
  printPhases(
    'knex-pg',
    { rows: ROWS, 'secret columns': SECRETS.length, runs: RUNS },
    { before, after: loadAverage() },
    [summarize('insert', insert), summarize('select', select)],
    ['insert', 'select'],
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
