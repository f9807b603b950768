import { describe, expect, it } from 'vitest';
import { backfill, memoryCheckpoints, rewrap } from '../../src/engine/index';
import {
  CmekConfigError,
  type CmekEvent,
  createEnvelope,
  createKeyring,
  type KekProvider,
} from '../../src/index';
import { KeyService, MemoryStore, seed, testProvider } from './support';

const FIELDS = ['secret', 'note'];

/** A store backfilled under `kek`, with `maxUses` values per DEK. */
async function encryptedStore(kek: KekProvider, n: number, maxUses: number) {
  const store = new MemoryStore('users', FIELDS);
  seed(store, n);
  await backfill(store, { envelope: createEnvelope({ kek, dekCache: { maxUses } }) });
  return store;
}

const kekPart = (token: string) => token.split('|')[0]!;
const rest = (token: string) => token.slice(token.indexOf('|'));

async function decryptAll(store: MemoryStore, kek: KekProvider | ReturnType<typeof createKeyring>) {
  const envelope = createEnvelope({ kek, decryptCache: false });
  for (const [id, row] of store.rows) {
    expect(
      await envelope.decrypt(row.secret!, {
        context: store.contextFor('secret'),
        plaintextPolicy: 'reject',
      }),
    ).toBe(`s${id}`);
  }
}

describe('rewrap', () => {
  it('moves every DEK from A to B with one unwrap and one wrap per distinct DEK', async () => {
    const a = testProvider({ keyRef: 'a' });
    const store = await encryptedStore(a, 1000, 100);
    const before = new Map([...store.rows].map(([id, r]) => [id, { ...r }]));
    const distinct = new Set(
      [...store.rows.values()].flatMap((r) =>
        [r.secret, r.note].filter(Boolean).map((t) => kekPart(t!)),
      ),
    );
    const b = testProvider({ keyRef: 'b', wrap: true });
    const keyring = createKeyring({ primary: b, decryptOnly: [a] });
    const events: CmekEvent[] = [];
    a.calls.unwrap = 0;
    const report = await rewrap(store, { keyring, batchSize: 128, onEvent: (e) => events.push(e) });
    expect(report.status).toBe('completed');
    expect(report.fields.secret).toMatchObject({ candidates: 1000, written: 1000 });
    expect(report.fields.note).toMatchObject({ candidates: 900, written: 900, nulls: 100 });
    expect(report.deks).toEqual({
      rewrapped: distinct.size,
      serverSide: 0,
      unwrapWrap: distinct.size,
      target: 'test/b',
    });
    expect(a.calls.unwrap).toBe(distinct.size);
    expect(b.calls.wrap).toBe(distinct.size);
    expect(events.filter((e) => e.type === 'kek-call' && e.operation === 'wrap')).toHaveLength(
      distinct.size,
    );
    for (const [id, row] of store.rows) {
      const old = before.get(id)!;
      expect(createEnvelope({ kek: b }).inspect(row.secret!)).toMatchObject({
        providerId: 'test',
        keyRef: 'b',
      });
      // The salt and the Fernet part are kept byte for byte.
      expect(rest(row.secret!)).toBe(rest(old.secret!));
      expect(kekPart(row.secret!)).not.toBe(kekPart(old.secret!));
    }
    // A dropped from the keyring: every row still decrypts.
    await decryptAll(store, b);
  });

  it('is idempotent and its dry run writes nothing', async () => {
    const a = testProvider({ keyRef: 'a' });
    const store = await encryptedStore(a, 300, 50);
    const b = testProvider({ keyRef: 'b', wrap: true });
    const keyring = createKeyring({ primary: b, decryptOnly: [a] });
    const snapshot = structuredClone([...store.rows]);
    const dry = await rewrap(store, { keyring, dryRun: true, batchSize: 64 });
    expect(dry.fields.secret).toMatchObject({ candidates: 300, written: 0 });
    expect(dry.deks?.rewrapped).toBe(12); // 570 values, 50 per DEK
    expect([...store.rows]).toEqual(snapshot);
    expect(b.calls.wrap + a.calls.unwrap).toBe(0);
    await rewrap(store, { keyring });
    const casCalls = store.casCalls;
    const again = await rewrap(store, { keyring });
    expect(again.fields.secret).toMatchObject({ candidates: 0, skipped: 300, written: 0 });
    expect(store.casCalls).toBe(casCalls);
  });

  it('uses the server-side rewrap of the same service, and no unwrap', async () => {
    const service = new KeyService();
    const v1 = testProvider({ keyRef: 'k1', providerId: 'kms', service });
    // 380 values, 150 per DEK: 3 DEKs.
    const store = await encryptedStore(v1, 200, 150);
    const v2 = testProvider({ keyRef: 'k2', providerId: 'kms', service, rewrap: true });
    v1.calls.unwrap = 0;
    const report = await rewrap(store, {
      keyring: createKeyring({ primary: v2, decryptOnly: [v1] }),
    });
    expect(report.deks).toMatchObject({ rewrapped: 3, serverSide: 3, unwrapWrap: 0 });
    expect(v2.calls.rewrap).toBe(3);
    expect(v1.calls.unwrap + v2.calls.unwrap).toBe(0);
    service.keys.delete('k1');
    await decryptAll(store, v2);
  });

  it('moves between providers (local to a KMS) by unwrap with the old and wrap with the new', async () => {
    const local = testProvider({ keyRef: 'l', providerId: 'local' });
    const store = await encryptedStore(local, 100, 1000); // 190 values: one DEK
    const kms = testProvider({ keyRef: 'arn', providerId: 'aws-kms', wrap: true, rewrap: true });
    const report = await rewrap(store, {
      keyring: createKeyring({ primary: kms, decryptOnly: [local] }),
    });
    expect(report.deks).toMatchObject({ rewrapped: 1, serverSide: 0, unwrapWrap: 1 });
    expect(kms.calls.rewrap).toBe(0);
    await decryptAll(store, kms);
  });

  it('refuses a primary that can neither rewrap nor wrap, before writing anything', async () => {
    const a = testProvider({ keyRef: 'a' });
    const store = await encryptedStore(a, 10, 1000);
    const snapshot = structuredClone([...store.rows]);
    const b = testProvider({ keyRef: 'b' });
    await expect(
      rewrap(store, { keyring: createKeyring({ primary: b, decryptOnly: [a] }) }),
    ).rejects.toBeInstanceOf(CmekConfigError);
    expect([...store.rows]).toEqual(snapshot);
  });

  it('counts values whose KEK the keyring lacks, and moves the rest', async () => {
    const a = testProvider({ keyRef: 'a' });
    const lost = testProvider({ keyRef: 'lost' });
    const store = await encryptedStore(a, 20, 1000);
    const other = new MemoryStore('users', FIELDS);
    seed(other, 20);
    await backfill(other, { envelope: createEnvelope({ kek: lost }) });
    for (const id of [3, 4, 5]) store.rows.get(id)!.secret = other.rows.get(id)!.secret!;
    store.rows.get(6)!.secret = 'cmek:v1:garbage';
    const b = testProvider({ keyRef: 'b', wrap: true });
    const report = await rewrap(store, {
      keyring: createKeyring({ primary: b, decryptOnly: [a] }),
    });
    expect(report.fields.secret).toMatchObject({
      written: 16,
      failed: { CMEK_UNKNOWN_KEK: 3, CMEK_FORMAT: 1 },
    });
    expect(store.rows.get(3)!.secret).toBe(other.rows.get(3)!.secret);
  });

  it('a conflicting write by the application wins; the row is retried', async () => {
    const a = testProvider({ keyRef: 'a' });
    const store = await encryptedStore(a, 50, 1000);
    const b = testProvider({ keyRef: 'b', wrap: true });
    const keyring = createKeyring({ primary: b, decryptOnly: [a] });
    const app = createEnvelope({ kek: keyring });
    const appToken = await app.encrypt('changed', { context: store.contextFor('secret') });
    let done = false;
    store.beforeCas = (id, field) => {
      if (id === 9 && field === 'secret' && !done) {
        done = true;
        store.rows.get(9)!.secret = appToken;
      }
    };
    const report = await rewrap(store, { keyring, batchSize: 16 });
    expect(report.fields.secret).toMatchObject({
      conflicts: 1,
      conflictsRemaining: 0,
      written: 49,
    });
    expect(store.rows.get(9)!.secret).toBe(appToken);
  });

  it('resumes from its checkpoint, but not from one made for another target', async () => {
    const a = testProvider({ keyRef: 'a' });
    const store = await encryptedStore(a, 400, 1000);
    const b = testProvider({ keyRef: 'b', wrap: true });
    const checkpoint = memoryCheckpoints();
    const controller = new AbortController();
    const first = await rewrap(store, {
      keyring: createKeyring({ primary: b, decryptOnly: [a] }),
      batchSize: 100,
      checkpoint,
      signal: controller.signal,
      onProgress: (e) => e.rows === 200 && controller.abort(),
    });
    expect(first.status).toBe('aborted');
    expect(checkpoint.saved.get('rewrap\u0000users')).toMatchObject({
      cursor: 200,
      target: 'test/b',
    });
    const c = testProvider({ keyRef: 'c', wrap: true });
    store.scans.length = 0;
    const other = await rewrap(store, {
      keyring: createKeyring({ primary: c, decryptOnly: [a, b] }),
      batchSize: 100,
      checkpoint,
    });
    expect(store.scans[0]).toBeUndefined();
    expect(other.resumedFrom).toBeNull();
    expect(other.fields.secret!.written).toBe(400);
    await decryptAll(store, c);
  });
});
