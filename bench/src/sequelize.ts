/**
 * @cmek/adapter-sequelize against plain Sequelize on PostgreSQL: 10,000 rows with two secret
 * columns (`access_token`, `refresh_token`) beside a plain `name`; insert them (one
 * `bulkCreate`, as an application importing a batch would), then `findAll` them back. Target:
 * <= 1.3x the plain Sequelize's wall time. Two models over two identical tables, one with
 * `encryptFields` on the secrets. Each of BENCH_RUNS rounds (after one warm-up round) times the
 * plain and the encrypted run back to back, in alternating order; the ratio is the median of
 * the per-round ratios. Beside it: the KEK calls of the encrypted run, the core's encryptMany /
 * decryptMany alone on the same values, and plain Sequelize moving ready-made ciphertext.
 *
 * Needs CMEK_PG_URL (bash scripts/services/up.sh postgres).
 */
import { encryptFields } from '@cmek/adapter-sequelize';
import { createEnvelope } from '@cmek/core';
import { DataTypes, Sequelize, type Model as SequelizeModel } from 'sequelize';
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
  const sequelize = new Sequelize(url, { logging: false, pool: { max: 2 } });
  const attributes = {
    id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
    name: DataTypes.TEXT,
    access_token: DataTypes.TEXT,
    refresh_token: DataTypes.TEXT,
  };
  const Plain = sequelize.define('BenchPlain', attributes, {
    tableName: `bench_seq_plain_${process.pid}`,
  });
  const Encrypted = sequelize.define('BenchEncrypted', attributes, {
    tableName: `bench_seq_enc_${process.pid}`,
  });
  const counter = kekCallCounter();
  const envelope = createEnvelope({ kek: memoryKek(), onEvent: counter.onEvent });
  await encryptFields(Encrypted, { envelope, fields: [...SECRETS] });
  await Plain.sync({ force: true });
  await Encrypted.sync({ force: true });
  const rows = secretRows(ROWS);

  let phases: { insert: PhaseSamples; select: PhaseSamples };
  try {
    phases = await insertSelectRounds(
      {
        plain: Plain,
        encrypted: Encrypted,
        rows,
        envelope,
        counter,
        contextOf: (c) => ({ field: `BenchEncrypted.${c}` }),
        truncate: (M) => M.truncate(),
        // bulkCreate writes into the objects it is given: a fresh copy each run
        insert: (M, data) => M.bulkCreate(data.map((r) => ({ ...r }))),
        select: (M) => M.findAll(),
        valueOf: (row: SequelizeModel, c) => row.get(c),
      },
      RUNS,
    );
  } finally {
    await Plain.drop().catch(() => undefined);
    await Encrypted.drop().catch(() => undefined);
    await sequelize.close();
    await envelope.close();
  }
  printPhases(
    'sequelize-pg',
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
