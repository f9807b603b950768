/** The real MongoDB-protocol server of the tests, both Mongoose majors, and raw driver access. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createEnvelope, type EncryptionContext, type Envelope } from '@cmek/core';
import { createLocalKekProviderFromKey } from '@cmek/provider-local';
import { serviceUrl } from '@cmek/test-suite';
import { type Db, type Document, MongoClient, ObjectId } from 'mongodb';
import mongoose9 from 'mongoose';
import mongoose8 from 'mongoose8';

/** `MONGODB_URI` (a real mongod) wins over the FerretDB that scripts/services starts. */
export const mongoUrl =
  process.env.MONGODB_URI ??
  serviceUrl({
    name: 'MongoDB (FerretDB)',
    env: 'CMEK_MONGO_URL',
    start: 'bash scripts/services/up.sh ferretdb',
  });

/** `true` when the server is FerretDB (its known gaps are skipped there, with a reason). */
export const onFerretDb = process.env.MONGODB_URI === undefined;

export type Mongoose = typeof mongoose9;

/** Both supported majors; Mongoose 8's types differ in details the tests do not use. */
export const mongooses: readonly { readonly label: string; readonly mongoose: Mongoose }[] = [
  { label: 'mongoose 9', mongoose: mongoose9 },
  { label: 'mongoose 8', mongoose: mongoose8 as unknown as Mongoose },
];

export interface Database {
  readonly conn: ReturnType<Mongoose['createConnection']>;
  /** The same database through the plain driver, around Mongoose. */
  readonly raw: Db;
  readonly envelope: Envelope;
  close(): Promise<void>;
}

export async function openDatabase(mongoose: Mongoose, url: string): Promise<Database> {
  const dbName = `cmek_test_${randomBytes(5).toString('hex')}`;
  const conn = mongoose.createConnection(url, { dbName });
  await conn.asPromise();
  const client = new MongoClient(url);
  await client.connect();
  const raw = client.db(dbName);
  const envelope = createEnvelope({ kek: createLocalKekProviderFromKey(randomBytes(32)) });
  return {
    conn,
    raw,
    envelope,
    async close() {
      await raw.dropDatabase().catch(() => undefined);
      await conn.close();
      await client.close();
      await envelope.close();
    },
  };
}

/** Asserts that a raw stored value is a token of `context` that decrypts to `plaintext`. */
export async function expectToken(
  envelope: Envelope,
  stored: unknown,
  context: EncryptionContext,
  plaintext: string,
): Promise<string> {
  assert.equal(typeof stored, 'string', `expected a token, found ${typeof stored}`);
  const token = stored as string;
  assert.ok(token.startsWith('cmek:v1:'), 'the stored value is not a cmek:v1: token');
  // (a short plaintext may occur in base64 by chance)
  if (plaintext.length >= 4) assert.ok(!token.includes(plaintext), 'the token holds the plaintext');
  assert.equal(await envelope.decrypt(token, { context }), plaintext);
  return token;
}

/** The stored `integrations` document of `id`, read with the driver (around Mongoose). */
export async function rawIntegration(db: Database, id: unknown): Promise<Document> {
  // Mongoose 8's ObjectId is another bson major than the driver's: pass it as hex
  const doc = await db.raw.collection('integrations').findOne({ _id: new ObjectId(String(id)) });
  assert.ok(doc !== null, 'no stored document with this id');
  return doc;
}

/** A value at a dotted path of a raw document (array indexes as segments). */
export function at(doc: unknown, path: string): unknown {
  let value: unknown = doc;
  for (const segment of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[segment];
  }
  return value;
}
