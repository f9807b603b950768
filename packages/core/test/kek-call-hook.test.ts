/** `kekCallHook`: called around every KEK call of an envelope and of `rewrap`. */
import { describe, expect, it } from 'vitest';
import { backfill, rewrap } from '../src/engine/index';
import {
  CmekConfigError,
  type CmekEvent,
  CmekKekUnavailableError,
  createEnvelope,
  createKeyring,
  type KekCallHook,
  type KekCallInfo,
} from '../src/index';
import { MemoryStore, seed, testProvider } from './engine/support';
import { memoryProvider } from './support/memory-provider';

/** A hook that records what it saw and where the events fell relative to it. */
function recorder() {
  const log: string[] = [];
  const calls: KekCallInfo[] = [];
  const hook: KekCallHook = async (call, run) => {
    calls.push(call);
    log.push(`enter ${call.operation}`);
    try {
      return await run();
    } finally {
      log.push(`leave ${call.operation}`);
    }
  };
  const onEvent = (event: CmekEvent) => {
    if (event.type === 'kek-call') log.push(`event ${event.operation} ${event.ok}`);
  };
  return { log, calls, hook, onEvent };
}

describe('kekCallHook', () => {
  it('wraps each KEK call, with the kek-call event inside it', async () => {
    const kek = memoryProvider({ keyRef: 'hooked', batch: true });
    const writer = createEnvelope({ kek, dekCache: false });
    // `dekCache: false`: a DEK per call, so three DEKs.
    const tokens = [
      await writer.encrypt('a'),
      await writer.encrypt('b'),
      await writer.encrypt('c'),
    ];
    const r = recorder();
    const reader = createEnvelope({ kek, kekCallHook: r.hook, onEvent: r.onEvent });
    expect(await reader.decryptMany(tokens)).toEqual(['a', 'b', 'c']);
    await reader.encrypt('d');
    expect(r.log).toEqual([
      'enter unwrapMany',
      'event unwrapMany true',
      'leave unwrapMany',
      'enter generateDataKey',
      'event generateDataKey true',
      'leave generateDataKey',
    ]);
    expect(r.calls).toEqual([
      { operation: 'unwrapMany', providerId: 'memory', keyRef: 'hooked', count: 3 },
      { operation: 'generateDataKey', providerId: 'memory', keyRef: 'hooked', count: 1 },
    ]);
    // A cached DEK costs no KEK call, so no hook call.
    await reader.decryptMany(tokens);
    expect(r.calls).toHaveLength(2);
  });

  it('sees a failed call fail inside it, with the typed error', async () => {
    const kek = memoryProvider();
    const r = recorder();
    const seen: unknown[] = [];
    const env = createEnvelope({
      kek,
      onEvent: r.onEvent,
      kekCallHook: async (_call, run) => {
        try {
          return await run();
        } catch (error) {
          seen.push(error);
          throw error;
        }
      },
    });
    kek.failWith = new CmekKekUnavailableError('down');
    const error = await env.encrypt('x').catch((e: unknown) => e);
    expect(seen).toEqual([error]);
    expect(CmekKekUnavailableError.isInstance(error)).toBe(true);
    expect(r.log).toEqual(['event generateDataKey false']);
  });

  it("the hook's own error is the call's error, unchanged", async () => {
    const own = new Error('tracer exploded');
    const env = createEnvelope({
      kek: memoryProvider(),
      kekCallHook: () => {
        throw own;
      },
    });
    await expect(env.encrypt('x')).rejects.toBe(own);
    const rejecting = createEnvelope({
      kek: memoryProvider(),
      kekCallHook: () => Promise.reject(own),
    });
    await expect(rejecting.encrypt('x')).rejects.toBe(own);
  });

  it('a hook that does not hand back what run() resolved to fails the call with CmekConfigError', async () => {
    const skipping = createEnvelope({
      kek: memoryProvider(),
      kekCallHook: (async () => 'something else') as unknown as KekCallHook,
    });
    const error = await skipping.encrypt('x').catch((e: unknown) => e);
    expect(CmekConfigError.isInstance(error)).toBe(true);
    expect((error as Error).message).toContain('kekCallHook');
  });

  it('must be a function', () => {
    expect(() =>
      createEnvelope({ kek: memoryProvider(), kekCallHook: 'trace' as unknown as KekCallHook }),
    ).toThrow(CmekConfigError);
  });

  it('wraps the KEK calls of rewrap (unwrap and wrap of each DEK moved)', async () => {
    const old = testProvider({ keyRef: 'old' });
    const store = new MemoryStore('users', ['secret']);
    seed(store, 4);
    await backfill(store, { envelope: createEnvelope({ kek: old }) });
    const next = testProvider({ keyRef: 'new', wrap: true });
    const r = recorder();
    await rewrap(store, {
      keyring: createKeyring({ primary: next, decryptOnly: [old] }),
      kekCallHook: r.hook,
      onEvent: r.onEvent,
    });
    expect(r.log).toEqual([
      'enter unwrap',
      'event unwrap true',
      'leave unwrap',
      'enter wrap',
      'event wrap true',
      'leave wrap',
    ]);
    expect(r.calls.map((c) => [c.operation, c.keyRef])).toEqual([
      ['unwrap', 'old'],
      ['wrap', 'new'],
    ]);
  });
});
