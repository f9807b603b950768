/**
 * @cmek/adapter-sequelize against plain Sequelize on PostgreSQL: insert 10,000 rows (one
 * `bulkCreate`, as an application importing a batch would), then `findAll` them back; encrypted /
 * plain wall time as a ratio (median of BENCH_RUNS, after one warm-up run). Target: <= 1.3x.
 * Two models over two identical tables, one with `encryptFields` on `token`.
 *
 * Needs CMEK_PG_URL (bash scripts/services/up.sh postgres). Prints one JSON line per phase.
 *
 *   CMEK_PG_URL=postgres://postgres@127.0.0.1:54329/postgres pnpm --filter @cmek/bench bench:sequelize
 */
import { randomBytes } from 'node:crypto';
import { encryptFields } from '@cmek/adapter-sequelize';
import { createEnvelope } from '@cmek/core';
import { DataTypes, Sequelize } from 'sequelize';
import { memoryKek, reportPhase, timed } from './orm-support';

const ROWS = 10_000;
const RUNS = Number(process.env.BENCH_RUNS ?? 7);

async function main(): Promise<void> {
  const url = process.env.CMEK_PG_URL;
  if (!url) throw new Error('set CMEK_PG_URL (bash scripts/services/up.sh postgres)');
  const sequelize = new Sequelize(url, { logging: false, pool: { max: 2 } });
  const attributes = {
    id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
    name: DataTypes.TEXT,
    token: DataTypes.TEXT,
  };
  const Plain = sequelize.define('BenchPlain', attributes, {
    tableName: `bench_seq_plain_${process.pid}`,
  });
  const Encrypted = sequelize.define('BenchEncrypted', attributes, {
    tableName: `bench_seq_enc_${process.pid}`,
  });
  const envelope = createEnvelope({ kek: memoryKek() });
  await encryptFields(Encrypted, { envelope, fields: ['token'] });
  await Plain.sync({ force: true });
  await Encrypted.sync({ force: true });
  const rows = Array.from({ length: ROWS }, (_, i) => ({
    name: `integration-${i}`,
    token: `xoxb-${randomBytes(18).toString('hex')}`,
  }));

  const results = {
    plain: { insert: [] as number[], select: [] as number[] },
    encrypted: { insert: [] as number[], select: [] as number[] },
    // the envelope alone on the same values: what the core's cryptography costs
    core: { insert: [] as number[], select: [] as number[] },
    // plain Sequelize moving ready-made ciphertext: what the larger values cost
    ciphertext: { insert: [] as number[], select: [] as number[] },
  };
  const context = { field: 'BenchEncrypted.token' };
  const values = rows.map((r) => r.token);
  try {
    for (let run = -1; run < RUNS; run++) {
      for (const [label, M] of [
        ['plain', Plain],
        ['encrypted', Encrypted],
      ] as const) {
        await M.truncate();
        const insert = await timed(() => M.bulkCreate(rows.map((r) => ({ ...r }))));
        let selected: { get(key: string): unknown }[] = [];
        const select = await timed(async () => {
          selected = await M.findAll();
        });
        if (selected.length !== ROWS) throw new Error('row count mismatch');
        if (!String(selected[0]!.get('token')).startsWith('xoxb-'))
          throw new Error('not plaintext');
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
      await Plain.truncate();
      const cInsert = await timed(() =>
        Plain.bulkCreate(rows.map((r, i) => ({ ...r, token: tokens[i] }))),
      );
      const cSelect = await timed(() => Plain.findAll());
      if (run >= 0) {
        results.core.insert.push(enc);
        results.core.select.push(dec);
        results.ciphertext.insert.push(cInsert);
        results.ciphertext.select.push(cSelect);
      }
    }
  } finally {
    await Plain.drop().catch(() => undefined);
    await Encrypted.drop().catch(() => undefined);
    await sequelize.close();
    await envelope.close();
  }

  for (const phase of ['insert', 'select'] as const) {
    reportPhase(
      'sequelize-pg',
      phase,
      { rows: ROWS, runs: RUNS },
      {
        plain: results.plain[phase],
        encrypted: results.encrypted[phase],
        core: results.core[phase],
        ciphertext: results.ciphertext[phase],
      },
    );
  }
}

await main();
