import { describe, expect, it } from 'vitest';
import { backfill, verify } from '../../src/engine/index';
import {
  CmekConfigError,
  CmekKekUnavailableError,
  createEnvelope,
  createKeyring,
} from '../../src/index';
import { MemoryStore, seed, testProvider } from './support';

describe('verify', () => {
  it('counts plaintext, nulls, encrypted per KEK and undecryptable per error code', async () => {
    const a = testProvider({ keyRef: 'a' });
    const b = testProvider({ keyRef: 'b' });
    const gone = testProvider({ keyRef: 'gone' });
    const store = new MemoryStore('users', ['secret', 'note']);
    seed(store, 100);
    await backfill(store, { envelope: createEnvelope({ kek: a }) });
    const underB = await createEnvelope({ kek: b }).encrypt('x', {
      context: store.contextFor('secret'),
    });
    const underGone = await createEnvelope({ kek: gone }).encrypt('y', {
      context: store.contextFor('secret'),
    });
    store.rows.get(1)!.secret = underB;
    store.rows.get(2)!.secret = underGone;
    store.rows.get(3)!.secret = store.rows.get(3)!.note ?? null; // the other field's context
    store.rows.get(4)!.secret = 'legacy';
    store.rows.get(5)!.secret = 'cmek:v2:future';
    const snapshot = structuredClone([...store.rows]);
    const envelope = createEnvelope({ kek: createKeyring({ primary: b, decryptOnly: [a] }) });
    const report = await verify(store, { envelope, batchSize: 30 });
    expect(report.status).toBe('completed');
    expect(report.rows).toBe(100);
    expect(report.undecryptable).toBe(3);
    expect(report.fields.secret!.plaintext).toBe(1);
    expect(report.fields.secret!.encrypted).toEqual(
      expect.arrayContaining([
        { providerId: 'test', keyRef: 'a', count: 95 },
        { providerId: 'test', keyRef: 'b', count: 1 },
      ]),
    );
    expect(report.fields.secret!.errors).toEqual(
      expect.arrayContaining([
        { code: 'CMEK_UNKNOWN_KEK', providerId: 'test', keyRef: 'gone', count: 1 },
        { code: 'CMEK_DECRYPTION', providerId: 'test', keyRef: 'a', count: 1 },
        { code: 'CMEK_FORMAT', count: 1 },
      ]),
    );
    expect(report.fields.note).toMatchObject({
      nulls: 10,
      plaintext: 0,
      undecryptable: 0,
      encrypted: [{ providerId: 'test', keyRef: 'a', count: 90 }],
    });
    expect([...store.rows]).toEqual(snapshot);
    expect(store.casCalls).toBe(100 + 90); // the backfill's writes only
  });

  it('counts a token with a damaged prefix as undecryptable, never as plaintext; backfill skips it', async () => {
    const kek = testProvider({ keyRef: 'a' });
    const envelope = createEnvelope({ kek });
    const store = new MemoryStore('users', ['secret']);
    seed(store, 3);
    await backfill(store, { envelope });
    const token = store.rows.get(1)!.secret!;
    store.rows.get(1)!.secret = `CMEK:V1:${token.slice(8)}`;
    store.rows.get(2)!.secret = token.slice(8); // the prefix cut off
    store.rows.get(3)!.secret = 'legacy';
    const report = await verify(store, { envelope });
    expect(report.fields.secret).toMatchObject({ plaintext: 1, undecryptable: 2 });
    expect(report.fields.secret!.errors).toEqual([{ code: 'CMEK_FORMAT', count: 2 }]);
    const again = await backfill(store, { envelope });
    expect(again.fields.secret).toMatchObject({ candidates: 1, skipped: 2 });
    expect(store.rows.get(2)!.secret).toBe(token.slice(8));
  });

  it('reports zero undecryptable once every value is under the remaining KEK', async () => {
    const a = testProvider({ keyRef: 'a' });
    const store = new MemoryStore('t', ['secret']);
    seed(store, 20);
    await backfill(store, { envelope: createEnvelope({ kek: a }) });
    const onlyB = createEnvelope({ kek: testProvider({ keyRef: 'b' }) });
    expect((await verify(store, { envelope: onlyB })).undecryptable).toBe(20);
    expect((await verify(store, { envelope: createEnvelope({ kek: a }) })).undecryptable).toBe(0);
  });
});

describe('verify when the KEK service is down', () => {
  it('ends the run with the retryable error instead of counting every value undecryptable', async () => {
    const a = testProvider({ keyRef: 'a' });
    const store = new MemoryStore('t', ['secret']);
    seed(store, 30);
    await backfill(store, { envelope: createEnvelope({ kek: a }) });
    const down = {
      ...a,
      async unwrap(): Promise<Uint8Array> {
        throw new CmekKekUnavailableError('the KEK service did not answer');
      },
    };
    const envelope = createEnvelope({ kek: down, decryptCache: false });
    await expect(verify(store, { envelope })).rejects.toBeInstanceOf(CmekKekUnavailableError);
  });
});

describe('verify lists the primary keys of undecryptable rows', () => {
  /** 250 rows backfilled under `a`; `secret` of every 2nd row re-encrypted under a lost KEK. */
  async function mixedStore() {
    const a = testProvider({ keyRef: 'a' });
    const gone = createEnvelope({ kek: testProvider({ keyRef: 'gone' }) });
    const store = new MemoryStore('users', ['secret', 'note']);
    seed(store, 250);
    await backfill(store, { envelope: createEnvelope({ kek: a }) });
    const tokens: string[] = [];
    for (let id = 2; id <= 250; id += 2) {
      const token = await gone.encrypt(`s${id}`, { context: store.contextFor('secret') });
      store.rows.get(id)!.secret = token;
      tokens.push(token);
    }
    return { store, envelope: createEnvelope({ kek: a }), tokens };
  }

  it('the first 100 per field by default, in primary-key order, and whether there are more', async () => {
    const { store, envelope, tokens } = await mixedStore();
    const report = await verify(store, { envelope, batchSize: 40 });
    const secret = report.fields.secret!;
    expect(secret.undecryptable).toBe(125);
    expect(secret.undecryptableIds).toEqual(Array.from({ length: 100 }, (_, i) => 2 * (i + 1)));
    expect(secret.undecryptableIdsTruncated).toBe(true);
    expect(report.fields.note).toMatchObject({
      undecryptable: 0,
      undecryptableIds: [],
      undecryptableIdsTruncated: false,
    });
    // Primary keys only: no stored value, token or key in the report.
    const json = JSON.stringify(report);
    for (const token of tokens) expect(json).not.toContain(token.slice(8, 40));
  });

  it('maxUndecryptableIds bounds the list; a list that holds them all is not truncated', async () => {
    const { store, envelope } = await mixedStore();
    const three = await verify(store, { envelope, batchSize: 40, maxUndecryptableIds: 3 });
    expect(three.fields.secret).toMatchObject({
      undecryptable: 125,
      undecryptableIds: [2, 4, 6],
      undecryptableIdsTruncated: true,
    });
    const none = await verify(store, { envelope, maxUndecryptableIds: 0 });
    expect(none.fields.secret).toMatchObject({
      undecryptableIds: [],
      undecryptableIdsTruncated: true,
    });
    const all = await verify(store, { envelope, maxUndecryptableIds: 125 });
    expect(all.fields.secret!.undecryptableIds).toHaveLength(125);
    expect(all.fields.secret!.undecryptableIds.at(-1)).toBe(250);
    expect(all.fields.secret!.undecryptableIdsTruncated).toBe(false);
    await expect(verify(store, { envelope, maxUndecryptableIds: -1 })).rejects.toBeInstanceOf(
      CmekConfigError,
    );
    await expect(verify(store, { envelope, maxUndecryptableIds: 1.5 })).rejects.toBeInstanceOf(
      CmekConfigError,
    );
  });

  it('names the rows of each failure in their field: malformed, wrong context, lost KEK', async () => {
    const a = testProvider({ keyRef: 'a' });
    const envelope = createEnvelope({ kek: a });
    const store = new MemoryStore('users', ['secret', 'note']);
    seed(store, 30);
    await backfill(store, { envelope });
    store.rows.get(7)!.secret = 'cmek:v1:garbage';
    store.rows.get(12)!.note = store.rows.get(12)!.secret!; // the other field's context
    store.rows.get(21)!.secret = await createEnvelope({
      kek: testProvider({ keyRef: 'lost' }),
    }).encrypt('x', { context: store.contextFor('secret') });
    store.rows.get(25)!.secret = 'legacy plaintext';
    const report = await verify(store, { envelope, batchSize: 8 });
    expect(report.fields.secret).toMatchObject({
      plaintext: 1,
      undecryptable: 2,
      undecryptableIds: [7, 21],
      undecryptableIdsTruncated: false,
    });
    expect(report.fields.note).toMatchObject({
      undecryptable: 1,
      undecryptableIds: [12],
      undecryptableIdsTruncated: false,
    });
  });
});
