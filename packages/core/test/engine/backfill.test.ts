import { describe, expect, it } from 'vitest';
import { backfill, memoryCheckpoints, type ProgressEvent } from '../../src/engine/index';
import { type CasWrite, CmekConfigError, createEnvelope, type Envelope } from '../../src/index';
import { MemoryStore, seed, testProvider } from './support';

const FIELDS = ['secret', 'note'];

function setup(n: number) {
  const provider = testProvider({ keyRef: 'a' });
  const envelope = createEnvelope({ kek: provider, dekCache: { maxUses: 100 } });
  const store = new MemoryStore('users', FIELDS);
  seed(store, n);
  return { provider, envelope, store };
}

/** Reads every row back as the application would (under the store's context). */
async function readAll(store: MemoryStore, envelope: Envelope) {
  const out = new Map<number, Record<string, string | null>>();
  for (const [id, row] of store.rows) {
    out.set(id, {
      secret: await envelope.decrypt(row.secret ?? null, {
        context: store.contextFor('secret'),
        plaintextPolicy: 'reject',
      }),
      note: await envelope.decrypt(row.note ?? null, {
        context: store.contextFor('note'),
        plaintextPolicy: 'reject',
      }),
    });
  }
  return out;
}

describe('backfill', () => {
  it('encrypts every plaintext value under the field context and leaves nulls', async () => {
    const { envelope, store } = setup(1234);
    const report = await backfill(store, { envelope, batchSize: 100 });
    expect(report.status).toBe('completed');
    expect(report.rows).toBe(1234);
    expect(report.batches).toBe(13);
    expect(report.fields.secret).toMatchObject({ candidates: 1234, written: 1234, skipped: 0 });
    expect(report.fields.note).toMatchObject({ candidates: 1111, written: 1111, nulls: 123 });
    for (const row of store.rows.values()) {
      expect(row.secret!.startsWith('cmek:v1:')).toBe(true);
      expect(row.note === null || row.note!.startsWith('cmek:v1:')).toBe(true);
    }
    const read = await readAll(store, envelope);
    expect(read.get(7)).toEqual({ secret: 's7', note: 'n7' });
    expect(read.get(10)).toEqual({ secret: 's10', note: null });
    // The context binds each value to its field: a token copied to the other field fails.
    await expect(
      envelope.decrypt(store.rows.get(7)!.secret!, { context: store.contextFor('note') }),
    ).rejects.toMatchObject({ code: 'CMEK_DECRYPTION' });
  });

  it('is idempotent: a second run writes nothing', async () => {
    const { envelope, store } = setup(300);
    await backfill(store, { envelope, batchSize: 64 });
    const snapshot = structuredClone([...store.rows]);
    const casBefore = store.casCalls;
    const second = await backfill(store, { envelope, batchSize: 64 });
    expect(second.fields.secret).toMatchObject({ candidates: 0, written: 0, skipped: 300 });
    expect(store.casCalls).toBe(casBefore);
    expect([...store.rows]).toEqual(snapshot);
  });

  it('a dry run writes nothing, calls no KEK, saves no checkpoint and reports the work', async () => {
    const { envelope, store, provider } = setup(250);
    const checkpoint = memoryCheckpoints();
    const snapshot = structuredClone([...store.rows]);
    const report = await backfill(store, { envelope, dryRun: true, batchSize: 100, checkpoint });
    expect(report.dryRun).toBe(true);
    expect(report.fields.secret).toMatchObject({ candidates: 250, written: 0 });
    expect(report.fields.note).toMatchObject({ candidates: 225, nulls: 25, written: 0 });
    expect([...store.rows]).toEqual(snapshot);
    expect(store.casCalls).toBe(0);
    expect(provider.calls.generateDataKey).toBe(0);
    expect(checkpoint.saved.size).toBe(0);
  });

  it('never overwrites a concurrent change: the conflict is counted and retried', async () => {
    const { envelope, store } = setup(200);
    // The application rewrites rows 50 and 120 (in plaintext, an old release) just before the
    // engine's write lands.
    const touched = new Set<number>();
    store.beforeCas = (id, field) => {
      if ((id === 50 || id === 120) && field === 'secret' && !touched.has(id)) {
        touched.add(id);
        store.rows.get(id)!.secret = `app-${id}`;
      }
    };
    const report = await backfill(store, { envelope, batchSize: 32 });
    expect(report.fields.secret).toMatchObject({
      conflicts: 2,
      conflictsRemaining: 0,
      written: 200,
    });
    const read = await readAll(store, envelope);
    expect(read.get(50)!.secret).toBe('app-50');
    expect(read.get(120)!.secret).toBe('app-120');
    expect(read.get(51)!.secret).toBe('s51');
  });

  it('leaves a row the application keeps changing, and reports it as remaining', async () => {
    const { envelope, store } = setup(40);
    let version = 0;
    store.beforeCas = (id, field) => {
      if (id === 7 && field === 'secret') store.rows.get(7)!.secret = `busy-${++version}`;
    };
    const report = await backfill(store, { envelope, batchSize: 10, conflictRetries: 2 });
    expect(report.fields.secret).toMatchObject({
      conflicts: 3,
      conflictsRemaining: 1,
      written: 39,
    });
    expect(store.rows.get(7)!.secret).toBe(`busy-${version}`);
    // The next run picks it up once the application is quiet.
    store.beforeCas = undefined;
    const next = await backfill(store, { envelope, batchSize: 10 });
    expect(next.fields.secret).toMatchObject({ written: 1, conflicts: 0 });
    expect(
      await envelope.decrypt(store.rows.get(7)!.secret!, { context: store.contextFor('secret') }),
    ).toBe(`busy-${version}`);
  });

  it('a value the application encrypted meanwhile is a resolved conflict, not a rewrite', async () => {
    const { envelope, store } = setup(20);
    const appToken = await envelope.encrypt('from-app', { context: store.contextFor('secret') });
    store.beforeCas = (id, field) => {
      if (id === 5 && field === 'secret') store.rows.get(5)!.secret = appToken;
    };
    const report = await backfill(store, { envelope, batchSize: 8 });
    expect(report.fields.secret).toMatchObject({ conflicts: 1, conflictsRemaining: 0 });
    expect(store.rows.get(5)!.secret).toBe(appToken);
  });

  it('stops on abort after the batch in flight and resumes from the checkpoint', async () => {
    const { envelope, store } = setup(1000);
    const checkpoint = memoryCheckpoints();
    const controller = new AbortController();
    const events: ProgressEvent[] = [];
    const first = await backfill(store, {
      envelope,
      batchSize: 100,
      checkpoint,
      signal: controller.signal,
      onProgress: (e) => {
        events.push(e);
        if (e.phase === 'batch' && e.rows === 300) controller.abort();
      },
    });
    expect(first.status).toBe('aborted');
    expect(first.cursor).toBe(300);
    expect(checkpoint.saved.get('backfill\u0000users')?.cursor).toBe(300);
    expect(store.rows.get(300)!.secret!.startsWith('cmek:')).toBe(true);
    expect(store.rows.get(301)!.secret).toBe('s301');
    expect(events.map((e) => e.phase)).toEqual(['start', 'batch', 'batch', 'batch', 'done']);

    store.scans.length = 0;
    const second = await backfill(store, { envelope, batchSize: 100, checkpoint });
    expect(second.status).toBe('completed');
    expect(second.resumedFrom).toBe(300);
    expect(store.scans[0]).toBe(300);
    expect(second.rows).toBe(1000);
    expect(second.fields.secret!.written).toBe(1000);
    expect(checkpoint.saved.size).toBe(0);
    const read = await readAll(store, envelope);
    for (const [id, row] of read) expect(row.secret).toBe(`s${id}`);
  });

  it('after a crash mid-run, a resumed run completes and encrypts nothing twice', async () => {
    const { envelope, store } = setup(500);
    const checkpoint = memoryCheckpoints();
    store.failScanAt = 4;
    await expect(backfill(store, { envelope, batchSize: 50, checkpoint })).rejects.toThrow(
      'simulated crash',
    );
    expect(checkpoint.saved.get('backfill\u0000users')?.cursor).toBe(150);
    store.failScanAt = undefined;
    const report = await backfill(store, { envelope, batchSize: 50, checkpoint });
    expect(report.status).toBe('completed');
    expect(report.fields.secret!.written).toBe(500);
    // A value encrypted twice would decrypt to a token, not to the original plaintext.
    const read = await readAll(store, envelope);
    for (const [id, row] of read) expect(row.secret).toBe(`s${id}`);
  });

  it('keeps at most `concurrency` writes in flight', async () => {
    const { envelope, store } = setup(120);
    store.casDelayMs = 2;
    await backfill(store, { envelope, batchSize: 60, concurrency: 5 });
    expect(store.maxInFlight).toBe(5);
    const serial = setup(30);
    serial.store.casDelayMs = 1;
    await backfill(serial.store, { envelope: serial.envelope, concurrency: 1 });
    expect(serial.store.maxInFlight).toBe(1);
  });

  it('uses compareAndSetMany when the store has it, conflicts included', async () => {
    const { envelope, store } = setup(1200);
    let calls = 0;
    const batched = Object.assign(store, {
      async compareAndSetMany(writes: readonly CasWrite[]) {
        calls++;
        const out: boolean[] = [];
        for (const w of writes)
          out.push(await store.compareAndSet(w.id, w.field, w.expected, w.next));
        return out;
      },
    });
    let touched = false;
    store.beforeCas = (id, field) => {
      if (id === 5 && field === 'note' && !touched) {
        touched = true;
        store.rows.get(5)!.note = 'app-5';
      }
    };
    const report = await backfill(batched, { envelope, batchSize: 600 });
    // Two batches of 600 rows: 600 + 540 writes each, in chunks of 500: 3 calls per batch; then
    // one call for the conflict's retry.
    expect(calls).toBe(7);
    expect(report.fields.note).toMatchObject({
      written: 1080,
      conflicts: 1,
      conflictsRemaining: 0,
    });
    expect(
      await envelope.decrypt(store.rows.get(5)!.note!, { context: store.contextFor('note') }),
    ).toBe('app-5');
    const broken = Object.assign(new MemoryStore('x', ['secret']), {
      compareAndSetMany: async () => [true],
    });
    seed(broken, 3);
    await expect(backfill(broken, { envelope })).rejects.toBeInstanceOf(CmekConfigError);
  });

  it('rejects bad options', async () => {
    const { envelope, store } = setup(1);
    await expect(backfill(store, { envelope, batchSize: 0 })).rejects.toBeInstanceOf(
      CmekConfigError,
    );
    await expect(backfill(store, { envelope, concurrency: 1.5 })).rejects.toBeInstanceOf(
      CmekConfigError,
    );
    await expect(
      backfill(store, {} as unknown as Parameters<typeof backfill>[1]),
    ).rejects.toBeInstanceOf(CmekConfigError);
  });
});
