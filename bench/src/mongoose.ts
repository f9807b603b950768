/**
 * @cmek/adapter-mongoose against plain Mongoose 9 on FerretDB (or the MongoDB of MONGODB_URI):
 * insertMany of 10,000 documents, then find them back (hydrated, and lean); encrypted / plain
 * wall time as a ratio. Also: the envelope alone on the same values, and plain Mongoose moving
 * ready-made ciphertext (what the larger values cost the server).
 *
 * Needs CMEK_MONGO_URL (bash scripts/services/up.sh ferretdb) or MONGODB_URI. Prints one JSON
 * line per phase.
 */
import { randomBytes } from 'node:crypto';
import { cmekPlugin } from '@cmek/adapter-mongoose';
import { createEnvelope } from '@cmek/core';
import mongoose from 'mongoose';
import { memoryKek, reportPhase, timed } from './orm-support';

const DOCS = 10_000;
const RUNS = Number(process.env.BENCH_RUNS ?? 5);

type Phase = 'insert' | 'find' | 'findLean';

async function main(): Promise<void> {
  const url = process.env.MONGODB_URI ?? process.env.CMEK_MONGO_URL;
  if (!url)
    throw new Error('set CMEK_MONGO_URL (bash scripts/services/up.sh ferretdb) or MONGODB_URI');
  const conn = mongoose.createConnection(url, { dbName: `cmek_bench_${process.pid}` });
  await conn.asPromise();
  const envelope = createEnvelope({ kek: memoryKek() });
  const shape = { name: String, token: String };
  const Plain = conn.model('Plain', new mongoose.Schema(shape));
  const encryptedSchema = new mongoose.Schema(shape);
  encryptedSchema.plugin(cmekPlugin, { envelope, fields: ['token'] });
  const Encrypted = conn.model('Encrypted', encryptedSchema);
  const docs = Array.from({ length: DOCS }, (_, i) => ({
    name: `integration-${i}`,
    token: `xoxb-${randomBytes(18).toString('hex')}`,
  }));
  const values = docs.map((d) => d.token);
  const context = { field: 'Encrypted.token' };

  const empty = (): Record<Phase, number[]> => ({ insert: [], find: [], findLean: [] });
  const results = { plain: empty(), encrypted: empty(), core: empty(), ciphertext: empty() };
  const measure = async (
    model: typeof Plain,
    rows: typeof docs,
    into: Record<Phase, number[]>,
    keep: boolean,
  ) => {
    await model.deleteMany({});
    const insert = await timed(() => model.insertMany(rows));
    let found: unknown[] = [];
    const find = await timed(async () => {
      found = await model.find();
    });
    if (found.length !== DOCS) throw new Error('document count mismatch');
    const findLean = await timed(async () => {
      found = await model.find().lean();
    });
    if (keep) {
      into.insert.push(insert);
      into.find.push(find);
      into.findLean.push(findLean);
    }
  };
  try {
    for (let run = -1; run < RUNS; run++) {
      const keep = run >= 0;
      await measure(Plain, docs, results.plain, keep);
      await measure(Encrypted as unknown as typeof Plain, docs, results.encrypted, keep);
      let tokens: (string | null)[] = [];
      const enc = await timed(async () => {
        tokens = await envelope.encryptMany(values, { context });
      });
      const dec = await timed(() => envelope.decryptMany(tokens, { context }));
      if (keep) {
        results.core.insert.push(enc);
        results.core.find.push(dec);
        results.core.findLean.push(dec);
      }
      const sealed = docs.map((d, i) => ({ ...d, token: tokens[i]! }));
      await measure(Plain, sealed, results.ciphertext, keep);
    }
  } finally {
    await conn.dropDatabase().catch(() => undefined);
    await conn.close();
    await envelope.close();
  }

  const server = process.env.MONGODB_URI ? 'mongodb' : 'ferretdb';
  let plainTotal = 0;
  let encryptedTotal = 0;
  for (const phase of ['insert', 'find', 'findLean'] as const) {
    const m = reportPhase(
      `mongoose-${server}`,
      phase,
      { docs: DOCS, runs: RUNS },
      {
        plain: results.plain[phase],
        encrypted: results.encrypted[phase],
        core: results.core[phase],
        ciphertext: results.ciphertext[phase],
      },
    );
    if (phase !== 'findLean') {
      plainTotal += m.plain;
      encryptedTotal += m.encrypted;
    }
  }
  console.log(
    JSON.stringify({
      bench: `mongoose-${server}`,
      phase: 'insert+find',
      ratio: Number((encryptedTotal / plainTotal).toFixed(2)),
    }),
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
