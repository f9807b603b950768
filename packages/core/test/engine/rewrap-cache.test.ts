import { describe, expect, it } from 'vitest';
import { backfill, createRewrapCache, rewrap } from '../../src/engine/index';
import {
  CmekConfigError,
  type CmekEvent,
  CmekKekUnavailableError,
  createEnvelope,
  createKeyring,
  type KekProvider,
  type Keyring,
} from '../../src/index';
import { MemoryStore, seed, type TestProvider, testProvider } from './support';

const FIELDS = ['secret', 'note'];
const N = 50;

const kekPart = (token: string) => token.split('|')[0]!;

/** Two stores backfilled by one envelope: every value of both shares one DEK. */
async function storesSharingOneDek(kek: KekProvider): Promise<MemoryStore[]> {
  const envelope = createEnvelope({ kek, dekCache: { maxUses: 10_000 } });
  const stores = [new MemoryStore('users', FIELDS), new MemoryStore('webhooks', FIELDS)];
  for (const store of stores) {
    seed(store, N);
    await backfill(store, { envelope });
  }
  const deks = new Set(stores.flatMap(tokensOf).map(kekPart));
  expect(deks.size).toBe(1);
  return stores;
}

function tokensOf(store: MemoryStore): string[] {
  return [...store.rows.values()].flatMap((r) =>
    [r.secret, r.note].filter((v): v is string => typeof v === 'string'),
  );
}

/** Every value decrypts with `kek` alone and names it. */
async function expectOnlyUnder(store: MemoryStore, kek: TestProvider): Promise<void> {
  const envelope = createEnvelope({ kek, decryptCache: false });
  for (const [id, row] of store.rows) {
    expect(envelope.inspect(row.secret!)).toMatchObject({
      providerId: kek.providerId,
      keyRef: 'b',
    });
    expect(
      await envelope.decrypt(row.secret!, {
        context: store.contextFor('secret'),
        plaintextPolicy: 'reject',
      }),
    ).toBe(`s${id}`);
  }
}

function setup() {
  const a = testProvider({ keyRef: 'a' });
  const b = testProvider({ keyRef: 'b', wrap: true });
  return { a, b, keyring: createKeyring({ primary: b, decryptOnly: [a] }) };
}

const kekCalls = (events: readonly CmekEvent[]) => events.filter((e) => e.type === 'kek-call');

describe('rewrap with a shared cache', () => {
  it('moves a DEK shared by two stores once; the second store reuses the new record', async () => {
    const { a, b, keyring } = setup();
    const stores = await storesSharingOneDek(a);
    a.calls.unwrap = 0;
    const cache = createRewrapCache();
    const events: CmekEvent[][] = [[], []];
    const reports = [];
    for (const [i, store] of stores.entries()) {
      reports.push(await rewrap(store, { keyring, cache, onEvent: (e) => events[i]!.push(e) }));
    }
    expect(a.calls.unwrap).toBe(1);
    expect(b.calls.wrap).toBe(1);
    // The KEK calls are reported to the call that made them, and only to it.
    expect(kekCalls(events[0]!).map((e) => e.type === 'kek-call' && e.operation)).toEqual([
      'unwrap',
      'wrap',
    ]);
    expect(kekCalls(events[1]!)).toHaveLength(0);
    expect(reports[0]!.deks).toEqual({
      rewrapped: 1,
      serverSide: 0,
      unwrapWrap: 1,
      target: 'test/b',
    });
    expect(reports[1]!.deks).toEqual({
      rewrapped: 0,
      serverSide: 0,
      unwrapWrap: 0,
      target: 'test/b',
    });
    expect(cache.size).toBe(1);
    for (const [i, store] of stores.entries()) {
      expect(reports[i]!.fields.secret).toMatchObject({ candidates: N, written: N });
      expect(reports[i]!.fields.note).toMatchObject({ written: N - N / 10 });
      await expectOnlyUnder(store, b);
    }
    // Both stores hold the one new record of the one DEK.
    expect(new Set(stores.flatMap(tokensOf).map(kekPart)).size).toBe(1);
  });

  it('without a cache each call moves the DEK again (one new record per store)', async () => {
    const { a, b, keyring } = setup();
    const stores = await storesSharingOneDek(a);
    a.calls.unwrap = 0;
    const reports = [];
    for (const store of stores) reports.push(await rewrap(store, { keyring }));
    expect(a.calls.unwrap).toBe(2);
    expect(b.calls.wrap).toBe(2);
    expect(reports.map((r) => r.deks?.rewrapped)).toEqual([1, 1]);
    expect(new Set(stores.flatMap(tokensOf).map(kekPart)).size).toBe(2);
  });

  it('calls running at once share one move of the DEK', async () => {
    const { a, b, keyring } = setup();
    const stores = await storesSharingOneDek(a);
    a.calls.unwrap = 0;
    const cache = createRewrapCache();
    const reports = await Promise.all(stores.map((store) => rewrap(store, { keyring, cache })));
    expect(a.calls.unwrap + b.calls.wrap).toBe(2);
    expect(reports.map((r) => r.deks!.rewrapped).sort()).toEqual([0, 1]);
    for (const store of stores) await expectOnlyUnder(store, b);
  });

  it('refuses a keyring whose primary is another KEK, before writing anything', async () => {
    const { a, keyring } = setup();
    const stores = await storesSharingOneDek(a);
    const cache = createRewrapCache();
    await rewrap(stores[0]!, { keyring, cache });
    const snapshot = structuredClone([...stores[1]!.rows]);
    const otherRef = testProvider({ keyRef: 'c', wrap: true });
    const otherProvider = testProvider({ keyRef: 'b', providerId: 'other', wrap: true });
    for (const primary of [otherRef, otherProvider]) {
      await expect(
        rewrap(stores[1]!, { keyring: createKeyring({ primary, decryptOnly: [a] }), cache }),
      ).rejects.toBeInstanceOf(CmekConfigError);
      expect(primary.calls.wrap).toBe(0);
    }
    expect([...stores[1]!.rows]).toEqual(snapshot);
    // Another keyring with the same primary is fine.
    const same = createKeyring({ primary: keyring.primary, decryptOnly: [a] });
    const report = await rewrap(stores[1]!, { keyring: same, cache });
    expect(report.fields.secret!.written).toBe(N);
    expect(report.deks!.rewrapped).toBe(0);
  });

  it('a dry run leaves the cache empty; the real run then makes the KEK calls', async () => {
    const { a, b, keyring } = setup();
    const stores = await storesSharingOneDek(a);
    a.calls.unwrap = 0;
    const cache = createRewrapCache();
    const dry = await rewrap(stores[0]!, { keyring, cache, dryRun: true });
    expect(dry.deks!.rewrapped).toBe(1);
    expect(cache.size).toBe(0);
    expect(a.calls.unwrap + b.calls.wrap).toBe(0);
    const real = await rewrap(stores[0]!, { keyring, cache });
    expect(real.deks!.rewrapped).toBe(1);
    expect(a.calls.unwrap).toBe(1);
    expect(b.calls.wrap).toBe(1);
    expect(cache.size).toBe(1);
  });

  it('does not remember a fatal error: the next call tries the DEK again', async () => {
    const { a, b } = setup();
    const stores = await storesSharingOneDek(a);
    let down = true;
    const flaky: KekProvider = {
      ...b,
      async wrap(dek) {
        if (down) throw new CmekKekUnavailableError('simulated outage');
        return b.wrap!(dek);
      },
    };
    const keyring = createKeyring({ primary: flaky, decryptOnly: [a] });
    const cache = createRewrapCache();
    await expect(rewrap(stores[0]!, { keyring, cache })).rejects.toBeInstanceOf(
      CmekKekUnavailableError,
    );
    expect(cache.size).toBe(0);
    down = false;
    const report = await rewrap(stores[0]!, { keyring, cache });
    expect(report.deks!.rewrapped).toBe(1);
    expect(report.fields.secret!.written).toBe(N);
    expect(b.calls.wrap).toBe(1);
  });

  it("reuses a keyring's own failure, but not for another keyring that may do better", async () => {
    const { a, b, keyring } = setup();
    const stores = await storesSharingOneDek(a);
    // Same provider id and key reference as A, another key: its unwrap fails to decrypt.
    const impostor = testProvider({ keyRef: 'a' });
    const wrong: Keyring = createKeyring({ primary: b, decryptOnly: [impostor] });
    const cache = createRewrapCache();
    const first = await rewrap(stores[0]!, { keyring: wrong, cache });
    expect(first.fields.secret).toMatchObject({ written: 0, failed: { CMEK_DECRYPTION: N } });
    const second = await rewrap(stores[1]!, { keyring: wrong, cache });
    expect(second.fields.secret).toMatchObject({ written: 0, failed: { CMEK_DECRYPTION: N } });
    expect(impostor.calls.unwrap).toBe(1);
    a.calls.unwrap = 0;
    const fixed = await rewrap(stores[1]!, { keyring, cache });
    expect(fixed.fields.secret).toMatchObject({ written: N, failed: {} });
    expect(fixed.deks!.rewrapped).toBe(1);
    expect(a.calls.unwrap).toBe(1);
    await expectOnlyUnder(stores[1]!, b);
  });

  it('takes its limit from createRewrapCache, not from maxCachedDeks as well', async () => {
    const { a, keyring } = setup();
    const [store] = await storesSharingOneDek(a);
    expect(() => createRewrapCache({ maxEntries: 0 })).toThrow(CmekConfigError);
    await expect(
      rewrap(store!, { keyring, cache: createRewrapCache(), maxCachedDeks: 10 }),
    ).rejects.toBeInstanceOf(CmekConfigError);
    await expect(
      rewrap(store!, { keyring, cache: { size: 0 } as ReturnType<typeof createRewrapCache> }),
    ).rejects.toBeInstanceOf(CmekConfigError);
    expect(
      tokensOf(store!).every((t) => createEnvelope({ kek: a }).inspect(t).keyRef === 'a'),
    ).toBe(true);
  });
});
