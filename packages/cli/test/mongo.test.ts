import { randomBytes } from 'node:crypto';
import { createEnvelope, createKeyring } from '@cmek/core';
import { backfill, rewrap, verify } from '@cmek/core/engine';
import { createLocalKekProviderFromKey } from '@cmek/provider-local';
import { serviceUrl } from '@cmek/test-suite';
import { type Collection, MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mongoRowStore } from './support/stores';

const url =
  process.env.MONGODB_URI ??
  serviceUrl({
    name: 'FerretDB',
    env: 'CMEK_MONGO_URL',
    start: 'bash scripts/services/up.sh ferretdb',
  });

type Doc = { _id: number; secret: string | null };
// FerretDB on SQLite commits each write on its own (about 30 writes/s on a loaded CI machine);
// set CMEK_MONGO_ROWS=100000 with MONGODB_URI pointing at a MongoDB server for the full size.
const N = Number(process.env.CMEK_MONGO_ROWS ?? 500);

describe.skipIf(!url)('the engine on FerretDB (MongoDB wire protocol)', () => {
  let client: MongoClient;
  let collection: Collection<Doc>;
  const a = createLocalKekProviderFromKey(randomBytes(32));
  const b = createLocalKekProviderFromKey(randomBytes(32));

  beforeAll(async () => {
    client = new MongoClient(url!);
    await client.connect();
    collection = client.db('cmek_cli').collection<Doc>(`engine_${randomBytes(4).toString('hex')}`);
    for (let start = 1; start <= N; start += 5000) {
      const docs: Doc[] = [];
      for (let id = start; id < Math.min(start + 5000, N + 1); id++) {
        docs.push({ _id: id, secret: id % 11 === 0 ? null : `secret-${id}` });
      }
      await collection.insertMany(docs);
    }
  });

  afterAll(async () => {
    await collection?.drop().catch(() => undefined);
    await client?.close();
  });

  // FerretDB's SQLite backend takes one writer at a time: concurrency 1.
  it('backfills, skips on a second run, rotates A to B, and B alone reads every document', {
    timeout: 300_000,
  }, async () => {
    const store = mongoRowStore(collection as unknown as Collection<{ _id: number }>, ['secret']);
    const envelope = createEnvelope({ kek: a });
    const dry = await backfill(store, { envelope, dryRun: true, batchSize: 1000 });
    expect(dry.fields.secret).toMatchObject({ candidates: N - Math.floor(N / 11), written: 0 });
    expect(await collection.countDocuments({ secret: { $regex: '^cmek:' } })).toBe(0);

    const first = await backfill(store, { envelope, batchSize: 1000, concurrency: 1 });
    expect(first.fields.secret).toMatchObject({
      written: N - Math.floor(N / 11),
      nulls: Math.floor(N / 11),
    });
    expect(await collection.countDocuments({ secret: { $regex: '^secret-' } })).toBe(0);
    const second = await backfill(store, { envelope, batchSize: 1000 });
    expect(second.fields.secret).toMatchObject({ written: 0, skipped: N - Math.floor(N / 11) });

    const keyring = createKeyring({ primary: b, decryptOnly: [a] });
    const rotated = await rewrap(store, { keyring, batchSize: 1000, concurrency: 1 });
    expect(rotated.fields.secret!.written).toBe(N - Math.floor(N / 11));

    const onlyB = createEnvelope({ kek: createKeyring({ primary: b }) });
    expect((await verify(store, { envelope: onlyB, batchSize: 1000 })).undecryptable).toBe(0);
    const docs = await collection.find().sort({ _id: 1 }).toArray();
    const values = await onlyB.decryptMany(
      docs.map((d) => d.secret),
      { context: { field: `${collection.collectionName}.secret` }, plaintextPolicy: 'reject' },
    );
    expect(
      docs.filter((d, i) => values[i] !== (d._id % 11 === 0 ? null : `secret-${d._id}`)),
    ).toEqual([]);
  });
});
