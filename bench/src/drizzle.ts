/**
 * @cmek/adapter-drizzle against plain Drizzle on PostgreSQL (node-postgres): 10,000 rows with two
 * secret columns (`access_token`, `refresh_token`) beside a plain `name`; insert them (one
 * multi-row insert, as an application importing a batch would), then select them back. Target:
 * <= 1.3x the plain Drizzle's wall time. Each of BENCH_RUNS rounds (after one warm-up round) times
 * the plain and the encrypted run back to back, in alternating order; the ratio is the median of
 * the per-round ratios. Beside it: the KEK calls of the encrypted run, the core's encryptMany /
 * decryptMany alone on the same values, and plain Drizzle moving ready-made ciphertext.
 *
 * Needs CMEK_PG_URL (bash scripts/services/up.sh postgres).
 */
import { withCmek } from '@cmek/adapter-drizzle';
import { createEnvelope } from '@cmek/core';
import { sql } from 'drizzle-orm';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { pgTable, serial, text } from 'drizzle-orm/pg-core';
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
  const name = `bench_drizzle_${process.pid}`;
  const table = pgTable(name, {
    id: serial('id').primaryKey(),
    name: text('name'),
    access_token: text('access_token'),
    refresh_token: text('refresh_token'),
  });
  const plain = drizzle({ connection: { connectionString: url, max: 2 } });
  const counter = kekCallCounter();
  const envelope = createEnvelope({ kek: memoryKek(), onEvent: counter.onEvent });
  const encrypted = withCmek(plain, { envelope, tables: [{ table, columns: [...SECRETS] }] });
  const rows = secretRows(ROWS);

  await plain.execute(sql.raw(`drop table if exists ${name}`));
  await plain.execute(
    sql.raw(
      `create table ${name} (id serial primary key, name text, access_token text, refresh_token text)`,
    ),
  );
  const truncate = () => plain.execute(sql.raw(`truncate ${name}`));

  let phases: { insert: PhaseSamples; select: PhaseSamples };
  try {
    phases = await insertSelectRounds(
      {
        plain: plain as NodePgDatabase,
        encrypted: encrypted as NodePgDatabase,
        rows,
        envelope,
        counter,
        contextOf: (c) => ({ field: `${name}.${c}` }),
        truncate,
        insert: (db, data) => db.insert(table).values(data as typeof rows),
        select: (db) => db.select().from(table),
        valueOf: (row: Record<string, unknown>, c) => row[c],
      },
      RUNS,
    );
  } finally {
    await plain.execute(sql.raw(`drop table if exists ${name}`));
    await plain.$client.end();
    await envelope.close();
  }
  printPhases(
    'drizzle-pg',
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
