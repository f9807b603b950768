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
import { DataTypes, type ModelStatic, Sequelize, type Model as SequelizeModel } from 'sequelize';
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

  const insert = emptySamples();
  const select = emptySamples();
  const run = async (
    M: ModelStatic<SequelizeModel>,
    keep: boolean,
    into: 'plain' | 'encrypted',
  ) => {
    await M.truncate();
    counter.take();
    const i = await timed(() => M.bulkCreate(rows.map((r) => ({ ...r }))));
    const insertCalls = counter.take();
    let selected: SequelizeModel[] = [];
    const s = await timed(async () => {
      selected = await M.findAll();
    });
    const selectCalls = counter.take();
    if (selected.length !== ROWS) throw new Error('row count mismatch');
    const first = selected.find((r) => r.get('name') === rows[0]!.name)!;
    if (SECRETS.some((c) => first.get(c) !== rows[0]![c]))
      throw new Error(`${into}: not plaintext`);
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
      for (const [M, into] of roundOrder(
        round,
        [Plain, 'plain'] as const,
        [Encrypted, 'encrypted'] as const,
      )) {
        await run(M, keep, into);
      }
      // Where the time goes: the core alone, and plain Sequelize on ciphertext.
      const {
        encryptMs: core,
        decryptMs: coreRead,
        sealed,
      } = await coreAlone(envelope, rows, SECRETS, (c) => ({ field: `BenchEncrypted.${c}` }));
      await Plain.truncate();
      const cInsert = await timed(() => Plain.bulkCreate(sealed));
      const cSelect = await timed(() => Plain.findAll());
      if (keep) {
        insert.core.push(core);
        select.core.push(coreRead);
        insert.ciphertext.push(cInsert);
        select.ciphertext.push(cSelect);
      }
    }
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
    [summarize('insert', insert), summarize('select', select)],
    ['insert', 'select'],
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
