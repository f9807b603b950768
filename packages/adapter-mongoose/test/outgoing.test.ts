/** The collection guard's checks of what is about to be sent, without a server. */
import { CmekPlaintextRejectedError, CmekQueryError } from '@cmek/core';
import { describe, expect, it } from 'vitest';
import {
  checkBulkOperations,
  checkDocument,
  checkUpdate,
  checkUpsertFilter,
} from '../src/guard-checks';
import type { FieldPath } from '../src/paths';

const fields: FieldPath[] = [
  { path: 'token', segments: ['token'], inArray: false },
  { path: 'smtp.password', segments: ['smtp', 'password'], inArray: false },
  { path: 'hooks.secret', segments: ['hooks', 'secret'], inArray: true },
];
const TOKEN = 'cmek:v1:local|k|s|gAAAAA';
const PLAIN = 'plain-7c1e';

function rejected(run: () => void): CmekPlaintextRejectedError {
  try {
    run();
  } catch (error) {
    expect(CmekPlaintextRejectedError.isInstance(error)).toBe(true);
    const e = error as CmekPlaintextRejectedError;
    expect(e.code).toBe('CMEK_PLAINTEXT_REJECTED');
    expect(e.message).not.toContain(PLAIN);
    expect(e.message).toContain("'coll'");
    return e;
  }
  throw new Error('expected CMEK_PLAINTEXT_REJECTED, nothing was thrown');
}

function refused(run: () => void): CmekQueryError {
  try {
    run();
  } catch (error) {
    expect(CmekQueryError.isInstance(error)).toBe(true);
    return error as CmekQueryError;
  }
  throw new Error('expected CMEK_QUERY, nothing was thrown');
}

describe('the collection guard checks', () => {
  it('passes documents whose encrypted paths hold tokens or null, in every shape', () => {
    checkDocument(
      { token: TOKEN, smtp: { password: null, host: 'h' }, hooks: [{ secret: TOKEN }, {}] },
      fields,
      'coll',
    );
    checkDocument({ name: PLAIN }, fields, 'coll');
    checkUpdate(
      {
        $set: { token: TOKEN, 'hooks.0.secret': TOKEN, smtp: { password: TOKEN } },
        $setOnInsert: { 'smtp.password': null },
        $push: { hooks: { $each: [{ secret: TOKEN }] } },
        $addToSet: { hooks: { secret: TOKEN } },
        // what a document's save sends for removed elements and the version key
        $pull: { hooks: { _id: { $in: ['a'] } } },
        $pullAll: { hooks: [{ secret: PLAIN }] },
        $unset: { token: 1 },
        $inc: { __v: 1 },
        $currentDate: { smtp: true },
      },
      fields,
      'coll',
    );
  });

  it('refuses a document or replacement with plaintext or a non-string at an encrypted path', () => {
    expect(rejected(() => checkDocument({ token: PLAIN }, fields, 'coll')).field).toBe('token');
    expect(rejected(() => checkDocument({ smtp: { password: 42 } }, fields, 'coll')).field).toBe(
      'smtp.password',
    );
    expect(
      rejected(() =>
        checkDocument({ hooks: [{ secret: TOKEN }, { secret: PLAIN }] }, fields, 'coll'),
      ).field,
    ).toBe('hooks.secret');
    rejected(() => checkDocument({ token: ['a'] }, fields, 'coll'));
  });

  it('refuses updates that would store plaintext: $set, top-level keys, $setOnInsert, $push, $addToSet, $min', () => {
    for (const update of [
      { $set: { token: PLAIN } },
      { token: PLAIN },
      { $setOnInsert: { 'smtp.password': PLAIN } },
      { $set: { smtp: { password: PLAIN } } },
      { $set: { 'hooks.$[].secret': PLAIN } },
      { $push: { hooks: { secret: PLAIN } } },
      { $push: { hooks: { $each: [{ secret: TOKEN }, { secret: PLAIN }] } } },
      { $addToSet: { hooks: { $each: [{ secret: PLAIN }] } } },
      { $min: { token: PLAIN } },
    ]) {
      rejected(() => checkUpdate(update, fields, 'coll'));
    }
  });

  it('refuses operators that move or compute a value into an encrypted path', () => {
    expect(refused(() => checkUpdate({ $rename: { name: 'token' } }, fields, 'coll')).field).toBe(
      'token',
    );
    refused(() => checkUpdate({ $inc: { token: 1 } }, fields, 'coll'));
    refused(() => checkUpdate({ $currentDate: { 'smtp.password': true } }, fields, 'coll'));
    refused(() => checkUpdate({ $set: { 'token.inner': TOKEN } }, fields, 'coll'));
    refused(() => checkUpdate([{ $set: { token: TOKEN } }], fields, 'coll'));
    refused(() => checkUpdate({ $bit: { smtp: { password: { and: 1 } } } }, fields, 'coll'));
  });

  it('refuses an upsert filter whose equality would seed plaintext into the inserted document', () => {
    rejected(() => checkUpsertFilter({ token: PLAIN }, fields, 'coll'));
    rejected(() => checkUpsertFilter({ 'smtp.password': { $eq: PLAIN } }, fields, 'coll'));
    rejected(() => checkUpsertFilter({ $and: [{ token: { $in: [PLAIN] } }] }, fields, 'coll'));
    rejected(() => checkUpsertFilter({ smtp: { password: PLAIN } }, fields, 'coll'));
    checkUpsertFilter({ token: TOKEN, name: PLAIN }, fields, 'coll');
    checkUpsertFilter({ token: { $in: [PLAIN, 'other'] } }, fields, 'coll');
    checkUpsertFilter({ token: { $exists: true } }, fields, 'coll');
  });

  it('checks every bulkWrite operation, the driver bare insertOne form and upsert filters included', () => {
    checkBulkOperations(
      [
        { insertOne: { document: { token: TOKEN } } },
        { updateOne: { filter: { token: PLAIN }, update: { $set: { token: TOKEN } } } },
        { deleteMany: { filter: { token: PLAIN } } },
      ],
      fields,
      'coll',
    );
    rejected(() => checkBulkOperations([{ insertOne: { token: PLAIN } }], fields, 'coll'));
    rejected(() =>
      checkBulkOperations([{ insertOne: { document: { token: PLAIN } } }], fields, 'coll'),
    );
    rejected(() =>
      checkBulkOperations(
        [{ updateMany: { filter: {}, update: { $set: { 'smtp.password': PLAIN } } } }],
        fields,
        'coll',
      ),
    );
    rejected(() =>
      checkBulkOperations(
        [{ replaceOne: { filter: {}, replacement: { hooks: [{ secret: PLAIN }] } } }],
        fields,
        'coll',
      ),
    );
    rejected(() =>
      checkBulkOperations(
        [{ updateOne: { filter: { token: PLAIN }, update: { $set: { n: 1 } }, upsert: true } }],
        fields,
        'coll',
      ),
    );
  });
});
