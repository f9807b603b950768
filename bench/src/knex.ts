/**
 * @cmek/adapter-knex against plain Knex on PostgreSQL: insert 10,000 rows (one multi-row
 * insert, as an application importing a batch would), then select them back; encrypted / plain
 * wall time as a ratio. Target: <= 1.3x.
 *
 * Needs CMEK_PG_URL (bash scripts/services/up.sh postgres). Prints one JSON line per phase.
 */
import { randomBytes } from 'node:crypto';
import { withCmek } from '@cmek/adapter-knex';
import { createEnvelope } from '@cmek/core';
import knexFactory, { type Knex } from 'knex';
import { memoryKek, reportPhase, timed } from './orm-support';

const ROWS = 10_000;
const RUNS = Number(process.env.BENCH_RUNS ?? 7);

async function main(): Promise<void> {
  const url = process.env.CMEK_PG_URL;
  if (!url) throw new Error('set CMEK_PG_URL (bash scripts/services/up.sh postgres)');
  const plain: Knex = knexFactory({ client: 'pg', connection: url, pool: { min: 1, max: 2 } });
  const table = `bench_knex_${process.pid}`;
  const envelope = createEnvelope({ kek: memoryKek() });
  const encrypted = withCmek(plain, { envelope, tables: { [table]: { columns: ['token'] } } });
  const rows = Array.from({ length: ROWS }, (_, i) => ({
    name: `integration-${i}`,
    token: `xoxb-${randomBytes(18).toString('hex')}`,
  }));

  await plain.schema.dropTableIfExists(table);
  await plain.schema.createTable(table, (t) => {
    t.increments('id').primary();
    t.text('name');
    t.text('token');
  });

  const results = {
    plain: { insert: [] as number[], select: [] as number[] },
    encrypted: { insert: [] as number[], select: [] as number[] },
    // the envelope alone on the same values: what the core's cryptography costs
    core: { insert: [] as number[], select: [] as number[] },
    // plain Knex moving ready-made ciphertext: what the larger values cost the database
    ciphertext: { insert: [] as number[], select: [] as number[] },
  };
  const context = { field: `${table}.token` };
  const values = rows.map((r) => r.token);
  try {
    for (let run = -1; run < RUNS; run++) {
      for (const [label, db] of [
        ['plain', plain],
        ['encrypted', encrypted],
      ] as const) {
        await plain(table).truncate();
        const insert = await timed(() => db(table).insert(rows));
        let selected: unknown[] = [];
        const select = await timed(async () => {
          selected = await db(table).select('id', 'name', 'token');
        });
        if (selected.length !== ROWS) throw new Error('row count mismatch');
        if (run >= 0) {
          results[label].insert.push(insert);
          results[label].select.push(select);
        }
      }
      let tokens: (string | null)[] = [];
      const enc = await timed(async () => {
        tokens = await envelope.encryptMany(values, { context });
      });
      const dec = await timed(() => envelope.decryptMany(tokens, { context }));
      if (run >= 0) {
        results.core.insert.push(enc);
        results.core.select.push(dec);
      }
      await plain(table).truncate();
      const sealed = rows.map((r, i) => ({ ...r, token: tokens[i] }));
      const cInsert = await timed(() => plain(table).insert(sealed));
      const cSelect = await timed(() => plain(table).select('id', 'name', 'token'));
      if (run >= 0) {
        results.ciphertext.insert.push(cInsert);
        results.ciphertext.select.push(cSelect);
      }
    }
  } finally {
    await plain.schema.dropTableIfExists(table);
    await plain.destroy();
    await envelope.close();
  }

  let plainTotal = 0;
  let encryptedTotal = 0;
  for (const phase of ['insert', 'select'] as const) {
    const m = reportPhase(
      'knex-pg',
      phase,
      { rows: ROWS, runs: RUNS },
      {
        plain: results.plain[phase],
        encrypted: results.encrypted[phase],
        core: results.core[phase],
        ciphertext: results.ciphertext[phase],
      },
    );
    plainTotal += m.plain;
    encryptedTotal += m.encrypted;
  }
  console.log(
    JSON.stringify({
      bench: 'knex-pg',
      phase: 'insert+select',
      ratio: Number((encryptedTotal / plainTotal).toFixed(2)),
    }),
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
