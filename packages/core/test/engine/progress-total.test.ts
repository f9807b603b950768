import { describe, expect, it } from 'vitest';
import {
  backfill,
  memoryCheckpoints,
  type ProgressEvent,
  rewrap,
  verify,
} from '../../src/engine/index';
import { createEnvelope, createKeyring } from '../../src/index';
import { CountedMemoryStore, MemoryStore, seed, testProvider } from './support';

const FIELDS = ['secret', 'note'];

function counted(n: number): CountedMemoryStore {
  const store = new CountedMemoryStore('users', FIELDS);
  seed(store, n);
  return store;
}

function envelopeOf() {
  return createEnvelope({ kek: testProvider({ keyRef: 'a' }), dekCache: { maxUses: 10_000 } });
}

describe('progress events with the store row count', () => {
  it('backfill asks count() once and puts the total in every event', async () => {
    const store = counted(250);
    const events: ProgressEvent[] = [];
    const report = await backfill(store, {
      envelope: envelopeOf(),
      batchSize: 100,
      onProgress: (e) => events.push(e),
    });
    expect(report.rows).toBe(250);
    expect(store.countCalls).toBe(1);
    expect(events.map((e) => [e.phase, e.rows, e.total])).toEqual([
      ['start', 0, 250],
      ['batch', 100, 250],
      ['batch', 200, 250],
      ['batch', 250, 250],
      ['done', 250, 250],
    ]);
  });

  it('rewrap and verify carry the total too', async () => {
    const a = testProvider({ keyRef: 'a' });
    const store = counted(120);
    await backfill(store, { envelope: createEnvelope({ kek: a }) });
    store.countCalls = 0;
    const b = testProvider({ keyRef: 'b', wrap: true });
    const keyring = createKeyring({ primary: b, decryptOnly: [a] });
    const rewrapEvents: ProgressEvent[] = [];
    await rewrap(store, { keyring, batchSize: 50, onProgress: (e) => rewrapEvents.push(e) });
    expect(store.countCalls).toBe(1);
    expect(rewrapEvents.length).toBeGreaterThan(2);
    for (const e of rewrapEvents) expect(e).toMatchObject({ operation: 'rewrap', total: 120 });

    store.rows.delete(120);
    const verifyEvents: ProgressEvent[] = [];
    await verify(store, {
      envelope: createEnvelope({ kek: keyring }),
      batchSize: 50,
      onProgress: (e) => verifyEvents.push(e),
    });
    expect(store.countCalls).toBe(2);
    expect(verifyEvents.map((e) => [e.phase, e.rows, e.total])).toEqual([
      ['start', 0, 119],
      ['batch', 50, 119],
      ['batch', 100, 119],
      ['batch', 119, 119],
      ['done', 119, 119],
    ]);
  });

  it('a resumed run counts the whole store again: rows and total both include the done part', async () => {
    const store = counted(400);
    const envelope = envelopeOf();
    const checkpoint = memoryCheckpoints();
    const controller = new AbortController();
    await backfill(store, {
      envelope,
      batchSize: 100,
      checkpoint,
      signal: controller.signal,
      onProgress: (e) => e.rows === 200 && controller.abort(),
    });
    const events: ProgressEvent[] = [];
    await backfill(store, {
      envelope,
      batchSize: 100,
      checkpoint,
      onProgress: (e) => events.push(e),
    });
    expect(events[0]).toMatchObject({ phase: 'start', rows: 200, total: 400 });
    expect(events.at(-1)).toMatchObject({ phase: 'done', rows: 400, total: 400 });
  });

  it('a store without count() gets events without total, as before', async () => {
    const store = new MemoryStore('users', FIELDS);
    seed(store, 30);
    const events: ProgressEvent[] = [];
    await backfill(store, {
      envelope: envelopeOf(),
      batchSize: 10,
      onProgress: (e) => events.push(e),
    });
    expect(events).toHaveLength(5);
    for (const e of events) expect('total' in e).toBe(false);
    expect(events[1]).toEqual({
      operation: 'backfill',
      store: 'users',
      phase: 'batch',
      rows: 10,
      written: 19,
      conflicts: 0,
      cursor: 10,
      batchDurationMs: expect.any(Number),
    });
  });

  it('a count that fails or is not a row count gives no total; the run goes on', async () => {
    for (const result of [
      { error: new Error('count timed out') },
      { value: -1 },
      { value: 2.5 },
      { value: Number.NaN },
    ]) {
      const store = counted(20);
      store.countResult = result;
      const events: ProgressEvent[] = [];
      const report = await verify(store, {
        envelope: envelopeOf(),
        onProgress: (e) => events.push(e),
      });
      expect(report.status).toBe('completed');
      expect(report.rows).toBe(20);
      expect(store.countCalls).toBe(1);
      for (const e of events) expect(e.total).toBeUndefined();
    }
  });

  it('count() is not called when nobody listens to the progress', async () => {
    const store = counted(20);
    const envelope = envelopeOf();
    await backfill(store, { envelope });
    await verify(store, { envelope });
    expect(store.countCalls).toBe(0);
  });
});
