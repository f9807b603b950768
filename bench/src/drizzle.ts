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

  const insert = emptySamples();
  const select = emptySamples();
  const run = async (db: NodePgDatabase, keep: boolean, into: 'plain' | 'encrypted') => {
    await truncate();
    counter.take();
    const i = await timed(() => db.insert(table).values(rows));
    const insertCalls = counter.take();
    let selected: Record<string, unknown>[] = [];
    const s = await timed(async () => {
      selected = await db.select().from(table);
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
      // Where the time goes: the core alone, and plain Drizzle on ciphertext.
      const {
        encryptMs: core,
        decryptMs: coreRead,
        sealed,
      } = await coreAlone(envelope, rows, SECRETS, (c) => ({ field: `${name}.${c}` }));
      await truncate();
      const cInsert = await timed(() => plain.insert(table).values(sealed as typeof rows));
      const cSelect = await timed(() => plain.select().from(table));
      if (keep) {
        insert.core.push(core);
        select.core.push(coreRead);
        insert.ciphertext.push(cInsert);
        select.ciphertext.push(cSelect);
      }
    }
  } finally {
    await plain.execute(sql.raw(`drop table if exists ${name}`));
    await plain.$client.end();
    await envelope.close();
  }
  printPhases(
    'drizzle-pg',
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
