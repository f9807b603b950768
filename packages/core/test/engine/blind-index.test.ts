import { describe, expect, it } from 'vitest';
import { backfill, memoryCheckpoints, verify } from '../../src/engine/index';
import {
  type BlindIndexer,
  CmekConfigError,
  createBlindIndexKey,
  createEnvelope,
  loadBlindIndexes,
} from '../../src/index';
import { IndexedMemoryStore } from './indexed-store';
import { MemoryStore, seed, testProvider } from './support';

const FIELDS = ['secret', 'note'];
const EMAIL = { column: 'secret_bidx', normalize: ['trim', 'lowercase'] as const };

async function setup(n: number, options: { many?: boolean; keys?: number } = {}) {
  const provider = testProvider({ keyRef: 'a' });
  const envelope = createEnvelope({ kek: provider, dekCache: { maxUses: 10 } });
  const keys = [await createBlindIndexKey(provider)];
  if ((options.keys ?? 1) > 1) keys.push(await createBlindIndexKey(provider));
  const indexer = await loadBlindIndexes({ keys, kek: provider });
  const store = new IndexedMemoryStore('users', FIELDS, { secret: [EMAIL] }, options.many);
  seed(store, n);
  return { provider, envelope, indexer, store, keys };
}

const expectedIndex = (indexer: BlindIndexer, id: number, key?: string) =>
  indexer.compute('users.secret', `s${id}`, { ...EMAIL, ...(key ? { key } : {}) });

describe('backfill with blind indexes', () => {
  for (const many of [false, true]) {
    it(`encrypts and indexes legacy plaintext in one write per value${many ? ' (compareAndSetMany)' : ''}`, async () => {
      const { envelope, indexer, store } = await setup(45, { many });
      const report = await backfill(store, { envelope, indexer, batchSize: 10 });
      expect(report.fields.secret).toMatchObject({
        candidates: 45,
        written: 45,
        indexes: { candidates: 45, written: 45 },
      });
      expect(report.fields.note!.indexes).toBeUndefined();
      for (const [id, row] of store.rows) {
        expect(row.secret!.startsWith('cmek:v1:')).toBe(true);
        expect(row.secret_bidx).toBe(expectedIndex(indexer, id));
        expect(await envelope.decrypt(row.secret!, { context: store.contextFor('secret') })).toBe(
          `s${id}`,
        );
      }
      if (many) expect(store.manyCalls).toBeGreaterThan(0);
      // idempotent: nothing left to do
      const again = await backfill(store, { envelope, indexer, batchSize: 10 });
      expect(again.fields.secret).toMatchObject({
        written: 0,
        indexes: { candidates: 0, written: 0 },
      });
    });
  }

  it('fills the index of values encrypted before the index existed, token unchanged', async () => {
    const { envelope, indexer, store, provider } = await setup(30);
    const plain = new MemoryStore('users', FIELDS);
    seed(plain, 30);
    await backfill(plain, { envelope });
    for (const [id, row] of plain.rows) store.rows.set(id, { ...row });
    const tokens = new Map([...store.rows].map(([id, row]) => [id, row.secret]));
    const unwrapsBefore = provider.calls.unwrap;
    const report = await backfill(store, { envelope: createEnvelope({ kek: provider }), indexer });
    expect(report.fields.secret).toMatchObject({
      candidates: 0,
      written: 0,
      skipped: 30,
      indexes: { candidates: 30, written: 30 },
    });
    // one unwrap per DEK (10 values per DEK), not per row
    expect(provider.calls.unwrap - unwrapsBefore).toBe(3);
    for (const [id, row] of store.rows) {
      expect(row.secret).toBe(tokens.get(id));
      expect(row.secret_bidx).toBe(expectedIndex(indexer, id));
    }
  });

  it("a resumed run adds its index counts to the checkpoint's", async () => {
    const { envelope, indexer, store } = await setup(30);
    const checkpoint = memoryCheckpoints();
    const controller = new AbortController();
    const first = await backfill(store, {
      envelope,
      indexer,
      checkpoint,
      batchSize: 10,
      signal: controller.signal,
      onProgress: (e) => {
        if (e.phase === 'batch') controller.abort();
      },
    });
    expect(first.status).toBe('aborted');
    expect(first.fields.secret!.indexes).toEqual({ candidates: 10, written: 10 });
    const second = await backfill(store, { envelope, indexer, checkpoint, batchSize: 10 });
    expect(second.resumedFrom).toBe(10);
    expect(second.fields.secret!.indexes).toEqual({ candidates: 30, written: 30 });
    for (const [id, row] of store.rows) expect(row.secret_bidx).toBe(expectedIndex(indexer, id));
  });

  it('a dry run counts the due indexes, writes nothing and calls no KEK', async () => {
    const { envelope, indexer, store, provider } = await setup(12);
    await backfill(store, { envelope, indexer });
    for (const id of [3, 4]) store.rows.get(id)!.secret_bidx = null;
    const calls = { ...provider.calls };
    const before = store.casCalls;
    const report = await backfill(store, {
      envelope: createEnvelope({ kek: provider }),
      indexer,
      dryRun: true,
    });
    expect(report.fields.secret!.indexes).toEqual({ candidates: 2, written: 0 });
    expect(store.casCalls).toBe(before);
    expect(provider.calls).toEqual(calls);
  });

  it('a value changed between scan and write is not indexed from the old value', async () => {
    const { envelope, indexer, store } = await setup(5);
    let changed = false;
    store.beforeCas = (id, field) => {
      if (id === 2 && field === 'secret' && !changed) {
        changed = true;
        store.rows.get(2)!.secret = 'S-NEW';
      }
    };
    const report = await backfill(store, { envelope, indexer });
    expect(report.fields.secret).toMatchObject({ conflicts: 1, conflictsRemaining: 0 });
    const row = store.rows.get(2)!;
    expect(await envelope.decrypt(row.secret!, { context: store.contextFor('secret') })).toBe(
      'S-NEW',
    );
    expect(row.secret_bidx).toBe(indexer.compute('users.secret', 's-new', EMAIL));
  });

  it('index-key rotation, two columns: the next column is filled, the current one untouched', async () => {
    const { envelope, indexer, store } = await setup(20, { keys: 2 });
    await backfill(store, { envelope, indexer });
    const current = new Map([...store.rows].map(([id, row]) => [id, row.secret_bidx]));
    const next = { ...EMAIL, column: 'secret_bidx_next', key: indexer.keyIds[1]! };
    const rotating = new IndexedMemoryStore('users', FIELDS, { secret: [EMAIL, next] });
    for (const [id, row] of store.rows) rotating.rows.set(id, { ...row });
    const report = await backfill(rotating, { envelope, indexer });
    expect(report.fields.secret).toMatchObject({
      written: 0,
      indexes: { candidates: 20, written: 20 },
    });
    for (const [id, row] of rotating.rows) {
      expect(row.secret_bidx).toBe(current.get(id));
      expect(row.secret_bidx_next).toBe(expectedIndex(indexer, id, indexer.keyIds[1]));
    }
    // only the due column was sent
    expect(Object.keys(rotating.indexWrites[0]!)).toEqual(['secret_bidx_next']);
    const check = await verify(rotating, { envelope, indexer });
    expect(check.indexProblems).toBe(0);
  });

  it('index-key rotation inside one column: values of the other key are recomputed', async () => {
    const { envelope, indexer, store, provider, keys } = await setup(8, { keys: 2 });
    await backfill(store, { envelope, indexer });
    const swapped = await loadBlindIndexes({ keys: [keys[1]!, keys[0]!], kek: provider });
    const report = await backfill(store, { envelope, indexer: swapped });
    expect(report.fields.secret!.indexes).toEqual({ candidates: 8, written: 8 });
    for (const [id, row] of store.rows) expect(row.secret_bidx).toBe(expectedIndex(swapped, id));
  });

  it('reindex: rewrites the mismatched indexes verify reports, under the guard, tokens unchanged', async () => {
    const { envelope, indexer, store, provider } = await setup(20);
    await backfill(store, { envelope, indexer });
    const wrong5 = store.rows.get(5)!.secret_bidx!;
    store.rows.get(4)!.secret_bidx = wrong5; // another row's index, current key and mode
    store.rows.get(9)!.secret_bidx = null; // missing
    const tokens = new Map([...store.rows].map(([id, row]) => [id, row.secret]));
    expect((await verify(store, { envelope, indexer })).indexProblems).toBe(2);
    // without reindex only the missing one is written: the prefix of row 4's index is current
    const plain = await backfill(store, { envelope, indexer });
    expect(plain.fields.secret!.indexes).toEqual({ candidates: 1, written: 1 });
    expect(store.rows.get(4)!.secret_bidx).toBe(wrong5);
    // row 7 changes between scan and write: its recomputed index is not written over the change
    let changed = false;
    store.beforeCas = (id) => {
      if (id === 4 && !changed) {
        changed = true;
        store.rows.get(4)!.secret = store.rows.get(7)!.secret!;
      }
    };
    const unwrapsBefore = provider.calls.unwrap;
    const writesBefore = store.indexWrites.length;
    const fixed = await backfill(store, {
      envelope: createEnvelope({ kek: provider }),
      indexer,
      reindex: true,
    });
    expect(fixed.fields.secret).toMatchObject({
      written: 0,
      conflicts: 1,
      conflictsRemaining: 0,
      indexes: { candidates: 1, written: 1 },
    });
    // one unwrap per DEK (10 values per DEK), as a verify
    expect(provider.calls.unwrap - unwrapsBefore).toBe(2);
    // the first attempt (guard lost) and the retry; no write for the 19 rows already right
    expect(store.indexWrites.length - writesBefore).toBe(2);
    expect(store.rows.get(4)!.secret_bidx).toBe(expectedIndex(indexer, 7));
    for (const [id, row] of store.rows) {
      if (id !== 4) expect(row.secret).toBe(tokens.get(id));
    }
    expect((await verify(store, { envelope, indexer })).indexProblems).toBe(0);
    // a dry run with reindex decrypts nothing: it counts only prefix-due indexes
    const calls = { ...provider.calls };
    const dry = await backfill(store, { envelope, indexer, reindex: true, dryRun: true });
    expect(dry.fields.secret!.indexes).toEqual({ candidates: 0, written: 0 });
    expect(provider.calls).toEqual(calls);
  });

  it('needs an indexer for a store with indexes; a store without keeps its report shape', async () => {
    const { envelope, store } = await setup(3);
    await expect(backfill(store, { envelope })).rejects.toThrow(CmekConfigError);
    await expect(verify(store, { envelope })).rejects.toThrow(CmekConfigError);
    const plain = new MemoryStore('users', FIELDS);
    seed(plain, 3);
    const report = await backfill(plain, { envelope });
    expect(Object.keys(report.fields.secret!).sort()).toEqual([
      'candidates',
      'conflicts',
      'conflictsRemaining',
      'failed',
      'nulls',
      'plaintext',
      'skipped',
      'written',
    ]);
    const checked = await verify(plain, { envelope });
    expect('indexProblems' in checked).toBe(false);
    expect('indexes' in checked.fields.secret!).toBe(false);
  });
});

describe('verify with blind indexes', () => {
  it('counts ok, missing and mismatched index values and lists their rows', async () => {
    const { envelope, indexer, store } = await setup(25);
    await backfill(store, { envelope, indexer });
    store.rows.get(3)!.secret_bidx = null; // missing
    store.rows.get(4)!.secret_bidx = store.rows.get(5)!.secret_bidx!; // another row's
    store.rows.get(6)!.secret = null; // a null value with an index left behind
    store.rows.get(7)!.secret = 'legacy plaintext'; // plaintext without an index
    store.rows.get(7)!.secret_bidx = null;
    const report = await verify(store, { envelope, indexer, maxUndecryptableIds: 2 });
    expect(report.fields.secret!.indexes).toEqual({
      secret_bidx: { ok: 21, missing: 2, mismatched: 2, ids: [3, 4], idsTruncated: true },
    });
    expect(report.indexProblems).toBe(4);
    expect(report.fields.secret!.plaintext).toBe(1);
  });

  it('does not check the index of an undecryptable value', async () => {
    const { envelope, indexer, store } = await setup(4);
    await backfill(store, { envelope, indexer });
    store.rows.get(2)!.secret = store.rows.get(2)!.note!; // a token of another field
    const report = await verify(store, { envelope, indexer });
    expect(report.fields.secret!.undecryptable).toBe(1);
    expect(report.fields.secret!.indexes!.secret_bidx).toMatchObject({
      ok: 3,
      missing: 0,
      mismatched: 0,
    });
  });
});
