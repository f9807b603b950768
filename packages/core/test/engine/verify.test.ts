import { describe, expect, it } from 'vitest';
import {
  backfill,
  CmekKekUnavailableError,
  createEnvelope,
  createKeyring,
  verify,
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
