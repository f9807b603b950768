import { randomBytes } from 'node:crypto';
import type { KekProvider } from '@cmek/core';
import { describe, expect, it } from 'vitest';
import { type ProviderConformanceOptions, providerConformanceSuite } from '../src/index';
import * as broken from './broken-providers';
import { failed, runCollected } from './collect';

const { keyA, keyB } = broken;

async function failures(
  make: (key: Uint8Array) => KekProvider,
  options: ProviderConformanceOptions = {},
): Promise<string[]> {
  const outcomes = await runCollected((api) =>
    providerConformanceSuite(
      api,
      { create: async () => make(keyA), createOther: async () => make(keyB) },
      { manyDeks: 20, concurrency: 20, ...options },
    ),
  );
  expect(outcomes.length).toBeGreaterThanOrEqual(11);
  return failed(outcomes);
}

const ROUND_TRIP =
  'round trip: generateDataKey gives a 32-byte DEK that unwrap opens to the same bytes';
const WRONG_KEY = 'never opens a DEK wrapped under another KEK, under either key reference';
const TAMPER = 'never opens a tampered wrapped DEK: flipped bytes, truncated, extended';
const DISTINCT = 'generates 20 distinct DEKs, each opening to itself';
const OWNED = 'returns DEKs the caller owns: zeroing one does not change later results';
const CONCURRENT = 'handles 20 concurrent generateDataKey and unwrap calls';
const RESTART = 'opens DEKs wrapped by another instance over the same KEK (a restart)';
const FEATURES = 'declares its optional methods (features) truthfully';
const CLOSE = 'close resolves, closing again resolves, and later calls reject with CmekClosedError';
const WRAP = 'wrap puts an existing DEK under this KEK: unwrap opens it, in a new instance too';
const UNWRAP_MANY = 'unwrapMany returns the DEKs in order, duplicates included';

describe('providerConformanceSuite', () => {
  it('passes a correct provider in every test, and registers them all', async () => {
    const outcomes = await runCollected((api) =>
      providerConformanceSuite(
        api,
        { create: async () => broken.good(keyA), createOther: async () => broken.good(keyB) },
        { name: 'good' },
      ),
    );
    expect(outcomes.map((o) => o.name.split(' > ')[0])).toEqual(Array(11).fill('good'));
    expect(failed(outcomes)).toEqual([]);
  });

  it('passes a correct unwrapMany when it is declared, and tests it', async () => {
    const outcomes = await runCollected((api) =>
      providerConformanceSuite(
        api,
        {
          create: async () => broken.withUnwrapMany(keyA),
          createOther: async () => broken.withUnwrapMany(keyB),
        },
        { features: { unwrapMany: true } },
      ),
    );
    expect(outcomes.map((o) => o.name)).toContain(`KEK provider conformance > ${UNWRAP_MANY}`);
    expect(failed(outcomes)).toEqual([]);
  });

  it('passes a correct wrap when it is declared, and fails one that ignores its DEK', async () => {
    const outcomes = await runCollected((api) =>
      providerConformanceSuite(
        api,
        {
          create: async () => broken.withWrap(keyA),
          createOther: async () => broken.withWrap(keyB),
        },
        { features: { wrap: true } },
      ),
    );
    expect(outcomes.map((o) => o.name)).toContain(`KEK provider conformance > ${WRAP}`);
    expect(failed(outcomes)).toEqual([]);
    expect(await failures(broken.wrapIgnoresDek, { features: { wrap: true } })).toEqual([WRAP]);
  });

  it('fails a provider that stores the DEK in the clear', async () => {
    expect(await failures(broken.clearWrap)).toContain(ROUND_TRIP);
  });

  it('fails an unauthenticated provider on wrong keys and tampering', async () => {
    const names = await failures(broken.unauthenticated);
    expect(names).toContain(WRONG_KEY);
    expect(names).toContain(TAMPER);
    expect(names).not.toContain(ROUND_TRIP);
  });

  it('fails a provider that repeats DEKs', async () => {
    const names = await failures(broken.repeatingDek);
    expect(names).toContain(DISTINCT);
    expect(names).toContain(CONCURRENT);
  });

  it('fails a provider that returns a shared DEK buffer', async () => {
    expect(await failures(broken.sharedBuffer)).toEqual([OWNED]);
  });

  it('fails a provider that throws bare Errors', async () => {
    const names = await failures(broken.plainErrors);
    expect(names).toContain(WRONG_KEY);
    expect(names).toContain(TAMPER);
  });

  it('fails a provider whose error messages contain the DEK', async () => {
    const outcomes = await runCollected((api) =>
      providerConformanceSuite(api, {
        create: async () => broken.leakyErrors(keyA),
        createOther: async () => broken.leakyErrors(keyB),
      }),
    );
    const tamper = outcomes.find((o) => o.name.endsWith(TAMPER));
    expect(String((tamper?.error as Error | undefined)?.message)).toMatch(/contains a DEK or key/);
  });

  it('fails an unwrapMany that drops duplicates', async () => {
    expect(await failures(broken.dedupingUnwrapMany, { features: { unwrapMany: true } })).toEqual([
      UNWRAP_MANY,
    ]);
  });

  it('fails a provider whose optional methods are not declared', async () => {
    expect(await failures(broken.withUnwrapMany)).toEqual([FEATURES]);
  });

  it('fails a close that throws the second time, and a close that does nothing', async () => {
    expect(await failures(broken.fragileClose)).toEqual([CLOSE]);
    expect(await failures(broken.closeIsANoop)).toEqual([CLOSE]);
  });

  it('fails a harness whose create() gives a new KEK each time', async () => {
    const outcomes = await runCollected((api) =>
      providerConformanceSuite(api, {
        create: async () => broken.good(randomBytes(32)),
        createOther: async () => broken.good(keyB),
      }),
    );
    // The close test also reads an old DEK through a second instance.
    expect(failed(outcomes)).toEqual([RESTART, CLOSE]);
  });

  it('fails a harness whose createOther() gives the same KEK, in every test that needs two', async () => {
    const names = await failures(() => broken.good(keyA));
    expect(names).toContain(WRONG_KEY);
    expect(names.some((n) => n.startsWith('routes by keyRef'))).toBe(true);
  });

  it('runs setup before and cleanup after the tests', async () => {
    const calls: string[] = [];
    await runCollected((api) =>
      providerConformanceSuite(api, {
        setup: () => void calls.push('setup'),
        create: async () => {
          calls.push('create');
          return broken.good(keyA);
        },
        createOther: async () => broken.good(keyB),
        cleanup: () => void calls.push('cleanup'),
      }),
    );
    expect(calls[0]).toBe('setup');
    expect(calls.at(-1)).toBe('cleanup');
    expect(calls.filter((c) => c === 'create').length).toBeGreaterThan(5);
  });

  it('accepts vitest functions as its test API', () => {
    // Type-level: this file compiles only if vitest's describe/it fit TestApi.
    const api: Parameters<typeof providerConformanceSuite>[0] = { describe, it };
    expect(typeof api.it).toBe('function');
  });
});
