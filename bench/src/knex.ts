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
  insertSelectRounds,
  kekCallCounter,
  loadAverage,
  memoryKek,
  type PhaseSamples,
  printPhases,
  SECRET_COLUMNS,
  secretRows,
  summarize,
} from './orm-support';

const ROWS = 10_000;
const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const SECRETS = SECRET_COLUMNS;

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

  let phases: { insert: PhaseSamples; select: PhaseSamples };
  try {
    phases = await insertSelectRounds(
      {
        plain,
        encrypted,
        rows,
        envelope,
        counter,
        contextOf: (c) => ({ field: `${table}.${c}` }),
        truncate: () => plain(table).truncate(),
        insert: (db, data) => db(table).insert(data),
        select: (db) => db(table).select('id', 'name', ...SECRET_COLUMNS),
        valueOf: (row: Record<string, unknown>, c) => row[c],
      },
      RUNS,
    );
  } finally {
    await plain.schema.dropTableIfExists(table);
    await plain.destroy();
    await envelope.close();
  }
  printPhases(
    'knex-pg',
    { rows: ROWS, 'secret columns': SECRETS.length, runs: RUNS },
    { before, after: loadAverage() },
    [summarize('insert', phases.insert), summarize('select', phases.select)],
    ['insert', 'select'],
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
