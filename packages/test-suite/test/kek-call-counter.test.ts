import { CmekConfigError, type CmekEvent, createEnvelope, createKeyring } from '@cmek/core';
import { describe, expect, it } from 'vitest';
import { kekCallCounter, memoryKekProvider } from '../src/index';

const CONTEXT = { context: { field: 'counter.secret' } };
/** One fixed KEK, so a writer and a reader share it. */
const KEK = new Uint8Array(32).fill(7);

describe('kekCallCounter', () => {
  it('counts generateDataKey and unwrap calls of a real envelope', async () => {
    const counter = kekCallCounter();
    const writer = createEnvelope({
      kek: memoryKekProvider({ kek: KEK }),
      onEvent: counter.onEvent,
    });
    const tokens = await Promise.all(['a', 'b', 'c'].map((v) => writer.encrypt(v, CONTEXT)));
    // The write-side DEK cache: one DEK for the three values.
    expect(counter.counts).toMatchObject({ generateDataKey: 1, unwrap: 0, total: 1, failed: 0 });

    const readerCounter = kekCallCounter();
    const reader = createEnvelope({
      kek: memoryKekProvider({ kek: KEK, features: { unwrapMany: false } }),
      onEvent: readerCounter.onEvent,
    });
    expect(await reader.decrypt(tokens[0]!, CONTEXT)).toBe('a');
    expect(await reader.decrypt(tokens[1]!, CONTEXT)).toBe('b');
    // The second value shares the DEK: served from the decrypt cache.
    expect(readerCounter.counts).toEqual({
      generateDataKey: 0,
      unwrap: 1,
      unwrapMany: 0,
      rewrap: 0,
      wrap: 0,
      health: 0,
      total: 1,
      failed: 0,
      unwrappedDeks: 1,
    });
  });

  it('counts health probes apart from the calls that serve values', async () => {
    const counter = kekCallCounter();
    const kek = memoryKekProvider({ kek: KEK });
    const envelope = createEnvelope({ kek, onEvent: counter.onEvent });
    const report = await envelope.health();
    expect(report.status).toBe('ok');
    expect(counter.counts).toMatchObject({ health: 1, generateDataKey: 0, total: 1, failed: 0 });
    await envelope.encrypt('x', CONTEXT);
    expect(counter.counts).toMatchObject({ health: 1, generateDataKey: 1, total: 2 });
  });

  it('counts one unwrapMany for a batch of distinct DEKs, with its DEK count', async () => {
    const writer = createEnvelope({ kek: memoryKekProvider({ kek: KEK }), dekCache: false });
    const tokens = await Promise.all(['1', '2', '3', '4'].map((v) => writer.encrypt(v, CONTEXT)));
    const counter = kekCallCounter();
    const kek = memoryKekProvider({ kek: KEK });
    const reader = createEnvelope({ kek, onEvent: counter.onEvent });
    expect(await reader.decryptMany(tokens, CONTEXT)).toEqual(['1', '2', '3', '4']);
    expect(counter.counts).toMatchObject({ unwrapMany: 1, unwrap: 0, unwrappedDeks: 4, total: 1 });
    // It agrees with the provider's own counters.
    expect(kek.calls.unwrapMany).toBe(counter.counts.unwrapMany);
    expect(counter.events[0]).toMatchObject({
      type: 'kek-call',
      operation: 'unwrapMany',
      providerId: 'memory',
      keyRef: kek.keyRef,
      count: 4,
      ok: true,
    });
  });

  it('counts failed calls', async () => {
    const counter = kekCallCounter();
    const kek = memoryKekProvider();
    const envelope = createEnvelope({ kek, onEvent: counter.onEvent, dekCache: false });
    kek.failWith = new Error('down');
    await expect(envelope.encrypt('x')).rejects.toThrow();
    kek.failWith = undefined;
    await envelope.encrypt('y');
    expect(counter.counts).toMatchObject({ generateDataKey: 2, total: 2, failed: 1 });
    expect(counter.events[0]).toMatchObject({ ok: false, errorCode: 'CMEK_PROVIDER' });
  });

  it('filters by providerId or keyRef across a keyring', async () => {
    const oldKek = memoryKekProvider({ providerId: 'old', keyRef: 'k-old' });
    const newKek = memoryKekProvider({ providerId: 'new', keyRef: 'k-new' });
    const oldToken = await createEnvelope({ kek: oldKek }).encrypt('legacy');
    const all = kekCallCounter();
    const onlyOld = kekCallCounter({ providerId: 'old', onEvent: all.onEvent });
    const onlyNew = kekCallCounter({ keyRef: 'k-new', onEvent: onlyOld.onEvent });
    const envelope = createEnvelope({
      kek: createKeyring({ primary: newKek, decryptOnly: [oldKek] }),
      onEvent: onlyNew.onEvent,
    });
    expect(await envelope.decrypt(oldToken)).toBe('legacy');
    await envelope.encrypt('fresh');
    expect(onlyOld.counts).toMatchObject({ unwrap: 1, generateDataKey: 0, total: 1 });
    expect(onlyNew.counts).toMatchObject({ unwrap: 0, generateDataKey: 1, total: 1 });
    expect(all.counts.total).toBe(2);
  });

  it('forwards every event, counted or not, to onEvent', async () => {
    const seen: CmekEvent['type'][] = [];
    const counter = kekCallCounter({ onEvent: (event) => seen.push(event.type) });
    const envelope = createEnvelope({ kek: memoryKekProvider(), onEvent: counter.onEvent });
    const token = await envelope.encrypt('x');
    await envelope.decrypt(token);
    expect(seen).toContain('kek-call');
    expect(seen.some((type) => type !== 'kek-call')).toBe(true);
    expect(counter.counts.total).toBe(seen.filter((type) => type === 'kek-call').length);
  });

  it('counts is a snapshot, events a copy; reset forgets', async () => {
    const counter = kekCallCounter();
    const envelope = createEnvelope({ kek: memoryKekProvider(), onEvent: counter.onEvent });
    const before = counter.counts;
    await envelope.encrypt('x');
    expect(before.total).toBe(0);
    expect(counter.counts.total).toBe(1);
    const events = counter.events;
    counter.reset();
    expect(events).toHaveLength(1);
    expect(counter.counts.total).toBe(0);
    expect(counter.events).toEqual([]);
  });

  it('refuses an onEvent that is not a function', () => {
    expect(() => kekCallCounter({ onEvent: 'log' as unknown as () => void })).toThrow(
      CmekConfigError,
    );
  });
});
