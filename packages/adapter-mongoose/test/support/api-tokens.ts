/**
 * The blind-index tests' model: `ApiToken`, whose encrypted `token` has a blind index in
 * `tokenBidx` (unique, sparse) and whose encrypted `email` has a normalised, slow-mode one in
 * `emailBidx`. The envelope and the indexer report their KEK calls to one counter; `check` is a
 * second indexer loaded from the same stored index key, which the tests compute expected index
 * values with (never through the adapter).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  type BlindIndexer,
  type BlindIndexOptions,
  createBlindIndexKey,
  createEnvelope,
  type Envelope,
  loadBlindIndexes,
} from '@cmek/core';
import { createLocalKekProviderFromKey } from '@cmek/provider-local';
import { type KekCallCounter, kekCallCounter } from '@cmek/test-suite';
import { type Document, ObjectId } from 'mongodb';
import { cmekPlugin } from '../../src/index';
import { type Database, type Mongoose, openDatabase } from './mongo';

export const TOKEN_INDEX: BlindIndexOptions = { column: 'tokenBidx' };
export const EMAIL_INDEX: BlindIndexOptions = {
  column: 'emailBidx',
  normalize: ['trim', 'lowercase'],
  mode: 'slow',
};
/** The lowest scrypt cost, to keep slow mode quick in tests. */
const SLOW_COST = 10;

export interface TokensDatabase extends Database {
  readonly envelope: Envelope;
  readonly counter: KekCallCounter;
  readonly indexer: BlindIndexer;
  /** A second indexer from the same stored key: the expected index values. */
  readonly check: BlindIndexer;
  readonly storedKey: string;
  readonly ApiToken: ReturnType<typeof apiTokenModel>;
  /** The stored `apitokens` document of `id`, read with the driver. */
  rawToken(id: unknown): Promise<Document>;
}

function apiTokenModel(
  db: Database,
  mongoose: Mongoose,
  envelope: Envelope,
  indexer: BlindIndexer,
) {
  const schema = new mongoose.Schema({
    name: String,
    token: String,
    tokenBidx: String,
    email: String,
    emailBidx: String,
    note: String,
  });
  schema.index({ tokenBidx: 1 }, { unique: true, sparse: true });
  schema.plugin(cmekPlugin, {
    envelope,
    indexer,
    fields: { token: { blindIndex: TOKEN_INDEX }, email: { blindIndex: EMAIL_INDEX }, note: {} },
  });
  return db.conn.model('ApiToken', schema);
}

export async function openTokensDatabase(mongoose: Mongoose, url: string): Promise<TokensDatabase> {
  const db = await openDatabase(mongoose, url);
  const counter = kekCallCounter();
  const kek = createLocalKekProviderFromKey(randomBytes(32));
  const envelope = createEnvelope({ kek, onEvent: counter.onEvent });
  const storedKey = await createBlindIndexKey(kek);
  const load = () =>
    loadBlindIndexes({ keys: [storedKey], kek, slowCost: SLOW_COST, onEvent: counter.onEvent });
  const indexer = await load();
  const check = await load();
  const ApiToken = apiTokenModel(db, mongoose, envelope, indexer);
  await ApiToken.init();
  return {
    ...db,
    envelope,
    counter,
    indexer,
    check,
    storedKey,
    ApiToken,
    async rawToken(id) {
      const doc = await db.raw.collection('apitokens').findOne({ _id: new ObjectId(String(id)) });
      assert.ok(doc !== null, 'no stored document with this id');
      return doc;
    },
    async close() {
      await db.close();
      await envelope.close();
      indexer.close();
      check.close();
    },
  };
}

/** The expected index of `token` (computed with the second indexer). */
export function tokenIndex(db: TokensDatabase, plaintext: string): string {
  return db.check.compute('ApiToken.token', plaintext, TOKEN_INDEX);
}

/**
 * Asserts the stored document holds `plaintext` in `token` (a token that decrypts to it) and its
 * index in `tokenBidx`, and no plaintext in either; `null`: neither is stored.
 */
export async function expectIndexed(
  db: TokensDatabase,
  id: unknown,
  plaintext: string | null,
): Promise<void> {
  const doc = await db.rawToken(id);
  if (plaintext === null) {
    assert.equal(doc.token ?? null, null, 'token is stored');
    assert.equal(doc.tokenBidx, undefined, 'the index of a null token is stored');
    return;
  }
  for (const path of ['token', 'tokenBidx']) {
    assert.equal(typeof doc[path], 'string', `${path} holds no string`);
    assert.ok(!(doc[path] as string).includes(plaintext), `${path} holds the plaintext`);
  }
  assert.ok((doc.token as string).startsWith('cmek:v1:'), 'token is not encrypted');
  assert.equal(
    await db.envelope.decrypt(doc.token as string, { context: { field: 'ApiToken.token' } }),
    plaintext,
  );
  assert.equal(doc.tokenBidx, tokenIndex(db, plaintext), 'tokenBidx is not the index of token');
}
