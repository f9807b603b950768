/** The `failed` progress phase and `batchDurationMs` of backfill, rewrap and verify. */
import { describe, expect, it } from 'vitest';
import { backfill, type ProgressEvent, rewrap, verify } from '../../src/engine/index';
import { CmekKekUnavailableError, createEnvelope, createKeyring } from '../../src/index';
import { memoryProvider } from '../support/memory-provider';
import { MemoryStore, seed, testProvider } from './support';

const FIELDS = ['secret'];

function store(n: number): MemoryStore {
  const s = new MemoryStore('users', FIELDS);
  seed(s, n);
  return s;
}

describe("the engine's failed phase", () => {
  it('backfill: a KEK that goes down ends the run with failed and its code, no done', async () => {
    const kek = memoryProvider();
    const events: ProgressEvent[] = [];
    const envelope = createEnvelope({ kek, dekCache: { maxUses: 10 } });
    const run = backfill(store(30), {
      envelope,
      batchSize: 10,
      onProgress: (e) => {
        events.push(e);
        // After the first batch, the KEK goes down: the second batch needs a new DEK.
        if (e.phase === 'batch') kek.failWith = new CmekKekUnavailableError('KMS down');
      },
    });
    await expect(run).rejects.toSatisfy((e) => CmekKekUnavailableError.isInstance(e));
    expect(events.map((e) => [e.phase, e.rows, e.errorCode])).toEqual([
      ['start', 0, undefined],
      ['batch', 10, undefined],
      ['failed', 10, 'CMEK_KEK_UNAVAILABLE'],
    ]);
    expect(events[1]!.batchDurationMs).toBeGreaterThanOrEqual(0);
    expect('batchDurationMs' in events[0]!).toBe(false);
    expect('batchDurationMs' in events[2]!).toBe(false);
  });

  it("a store's own error is _OTHER", async () => {
    const s = store(5);
    s.scan = async () => {
      throw new Error('connection reset');
    };
    const events: ProgressEvent[] = [];
    const envelope = createEnvelope({ kek: memoryProvider() });
    await expect(verify(s, { envelope, onProgress: (e) => events.push(e) })).rejects.toThrow(
      'connection reset',
    );
    expect(events.map((e) => [e.phase, e.errorCode])).toEqual([
      ['start', undefined],
      ['failed', '_OTHER'],
    ]);
  });

  it('rewrap: each batch event carries its duration; a completed run ends with done', async () => {
    const old = testProvider({ keyRef: 'old' });
    const s = store(25);
    await backfill(s, { envelope: createEnvelope({ kek: old }) });
    const events: ProgressEvent[] = [];
    await rewrap(s, {
      keyring: createKeyring({
        primary: testProvider({ keyRef: 'new', wrap: true }),
        decryptOnly: [old],
      }),
      batchSize: 10,
      onProgress: (e) => events.push(e),
    });
    expect(events.map((e) => e.phase)).toEqual(['start', 'batch', 'batch', 'batch', 'done']);
    const batches = events.filter((e) => e.phase === 'batch');
    expect(
      batches.every((e) => typeof e.batchDurationMs === 'number' && e.batchDurationMs >= 0),
    ).toBe(true);
  });
});
