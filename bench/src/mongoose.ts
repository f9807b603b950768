/**
 * @cmek/adapter-mongoose against plain Mongoose 9 on FerretDB (or the MongoDB of MONGODB_URI):
 * 2,000 documents with two secret fields (`access_token`, `refresh_token`) beside a plain
 * `name`; insertMany them, then find them back (hydrated, and lean). Target: <= 1.3x the plain
 * Mongoose's wall time. Each of BENCH_RUNS rounds (after one warm-up round) times the plain and
 * the encrypted run back to back, in alternating order; the ratio is the median of the
 * per-round ratios. Beside it: the KEK calls of the encrypted run, the core's encryptMany /
 * decryptMany alone on the same values, and plain Mongoose moving ready-made ciphertext.
 *
 * Needs CMEK_MONGO_URL (bash scripts/services/up.sh ferretdb) or MONGODB_URI.
 */
import { cmekPlugin } from '@cmek/adapter-mongoose';
import { createEnvelope } from '@cmek/core';
import mongoose from 'mongoose';
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

const DOCS = 2_000;
const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const SECRETS = ['access_token', 'refresh_token'] as const;

type Doc = Record<string, unknown>;

async function main(): Promise<void> {
  const url = process.env.MONGODB_URI ?? process.env.CMEK_MONGO_URL;
  if (!url)
    throw new Error('set CMEK_MONGO_URL (bash scripts/services/up.sh ferretdb) or MONGODB_URI');
  const before = loadAverage();
  const conn = mongoose.createConnection(url, { dbName: `cmek_bench_${process.pid}` });
  await conn.asPromise();
  const counter = kekCallCounter();
  const envelope = createEnvelope({ kek: memoryKek(), onEvent: counter.onEvent });
  const shape = { name: String, access_token: String, refresh_token: String };
  const Plain = conn.model('Plain', new mongoose.Schema(shape));
  const encryptedSchema = new mongoose.Schema(shape);
  encryptedSchema.plugin(cmekPlugin, { envelope, fields: [...SECRETS] });
  const Encrypted = conn.model('Encrypted', encryptedSchema) as unknown as typeof Plain;
  const docs = secretRows(DOCS);

  const phases = { insert: emptySamples(), find: emptySamples(), findLean: emptySamples() };
  const check = (found: Doc[], what: string) => {
    if (found.length !== DOCS) throw new Error(`${what}: document count mismatch`);
    const first = found.find((d) => d.name === docs[0]!.name)!;
    if (SECRETS.some((c) => first[c] !== docs[0]![c])) throw new Error(`${what}: not plaintext`);
  };
  /** One run of the three phases; returns the times and the KEK calls of each. */
  const run = async (model: typeof Plain, rows: readonly Doc[], what: string) => {
    await model.deleteMany({});
    counter.take();
    const insert = await timed(() => model.insertMany(rows.map((r) => ({ ...r }))));
    const insertCalls = counter.take();
    let found: Doc[] = [];
    const find = await timed(async () => {
      found = (await model.find()).map((d) => d.toObject() as Doc);
    });
    const findCalls = counter.take();
    if (what !== 'ciphertext') check(found, what);
    const findLean = await timed(async () => {
      found = (await model.find().lean()) as Doc[];
    });
    const findLeanCalls = counter.take();
    if (what !== 'ciphertext') check(found, `${what} lean`);
    return {
      times: { insert, find, findLean },
      calls: { insert: insertCalls, find: findCalls, findLean: findLeanCalls },
    };
  };
  try {
    for (let round = -1; round < RUNS; round++) {
      const keep = round >= 0;
      for (const [model, into] of roundOrder(
        round,
        [Plain, 'plain'] as const,
        [Encrypted, 'encrypted'] as const,
      )) {
        const r = await run(model, docs, into);
        if (!keep) continue;
        for (const phase of ['insert', 'find', 'findLean'] as const) {
          phases[phase][into].push(r.times[phase]);
          if (into === 'encrypted') phases[phase].kekCalls.push(r.calls[phase]);
        }
      }
      // Where the time goes: the core alone, and plain Mongoose on ciphertext.
      const {
        encryptMs: core,
        decryptMs: coreRead,
        sealed,
      } = await coreAlone(envelope, docs, SECRETS, (c) => ({ field: `Encrypted.${c}` }));
      const cipher = await run(Plain, sealed, 'ciphertext');
      if (keep) {
        phases.insert.core.push(core);
        phases.find.core.push(coreRead);
        phases.findLean.core.push(coreRead);
        for (const phase of ['insert', 'find', 'findLean'] as const) {
          phases[phase].ciphertext.push(cipher.times[phase]);
        }
      }
    }
  } finally {
    await conn.dropDatabase().catch(() => undefined);
    await conn.close();
    await envelope.close();
  }
  printPhases(
    `mongoose-${process.env.MONGODB_URI ? 'mongodb' : 'ferretdb'}`,
    { docs: DOCS, 'secret fields': SECRETS.length, runs: RUNS },
    { before, after: loadAverage() },
    [
      summarize('insert', phases.insert),
      summarize('find', phases.find),
      summarize('find lean', phases.findLean),
    ],
    ['insert', 'find'],
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
