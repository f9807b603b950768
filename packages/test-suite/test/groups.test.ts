import { describe, expect, it } from 'vitest';
import {
  ADAPTER_GROUPS,
  type AdapterConformanceOptions,
  adapterConformanceSuite,
  PROVIDER_GROUPS,
  type ProviderConformanceOptions,
  type ProviderGroup,
  providerConformanceSuite,
} from '../src/index';
import * as broken from './broken-providers';
import { failed, type Outcome, runCollected } from './collect';
import { memoryAdapter } from './memory-adapter';

const { keyA, keyB } = broken;

function registerProvider(
  make: (key: Uint8Array) => ReturnType<typeof broken.good>,
  options: ProviderConformanceOptions,
): Promise<Outcome[]> {
  return runCollected((api) =>
    providerConformanceSuite(
      api,
      { create: async () => make(keyA), createOther: async () => make(keyB) },
      { manyDeks: 10, concurrency: 10, ...options },
    ),
  );
}

/** The test names a suite registers (without the describe prefix). */
function names(outcomes: readonly Outcome[]): string[] {
  return outcomes.map((o) => o.name.split(' > ').pop()!);
}

/** Registers without running: the names, or the error registration threw. */
function registeredNames(
  register: (api: Parameters<typeof providerConformanceSuite>[0]) => void,
): string[] {
  const registered: string[] = [];
  register({
    describe: (_name, body) => body(),
    it: (name) => void registered.push(name),
    beforeAll: () => undefined,
    afterAll: () => undefined,
  });
  return registered;
}

const ROUND_TRIP =
  'round trip: generateDataKey gives a 32-byte DEK that unwrap opens to the same bytes';
const WRONG_KEY = 'never opens a DEK wrapped under another KEK, under either key reference';
const TAMPER = 'never opens a tampered wrapped DEK: flipped bytes, truncated, extended';
const KEYRING_PREFIX = 'routes by keyRef through a keyring';
const UNWRAP_MANY = [
  'unwrapMany returns the DEKs in order, duplicates included',
  'unwrapMany never returns DEKs when an item is tampered with',
];
const ALL_FEATURES = { unwrapMany: true, rewrap: true, wrap: true, close: true };

describe('providerConformanceSuite groups', () => {
  it('names 14 stable groups', () => {
    expect(PROVIDER_GROUPS).toEqual([
      'shape',
      'features',
      'round-trip',
      'restart',
      'many-deks',
      'owned-deks',
      'wrong-key',
      'tamper',
      'keyring',
      'concurrency',
      'unwrap-many',
      'rewrap',
      'wrap',
      'close',
    ]);
  });

  it('registers the same 11 tests as before when no group is switched off', async () => {
    const outcomes = await registerProvider(broken.good, {});
    expect(outcomes).toHaveLength(11);
    expect(failed(outcomes)).toEqual([]);
    expect(names(outcomes)).toContain(ROUND_TRIP);
  });

  it('skip: the switched-off groups are not registered, the rest run and still fail when broken', async () => {
    const outcomes = await registerProvider(broken.unauthenticated, {
      skip: ['wrong-key', 'keyring'],
    });
    const registered = names(outcomes);
    expect(registered).toHaveLength(9);
    expect(registered).not.toContain(WRONG_KEY);
    expect(registered.some((n) => n.startsWith(KEYRING_PREFIX))).toBe(false);
    // An unauthenticated provider still fails the tamper group, which was not switched off.
    expect(failed(outcomes)).toContain(TAMPER);
    expect(failed(outcomes)).not.toContain(WRONG_KEY);
  });

  it('skip: a provider that cannot give a second KEK runs everything else', async () => {
    let createOtherCalls = 0;
    const outcomes = await runCollected((api) =>
      providerConformanceSuite(
        api,
        {
          create: async () => broken.good(keyA),
          createOther: async () => {
            createOtherCalls++;
            throw new Error('this service has one key');
          },
        },
        { manyDeks: 10, concurrency: 10, skip: ['wrong-key', 'keyring'] },
      ),
    );
    expect(outcomes).toHaveLength(9);
    expect(failed(outcomes)).toEqual([]);
    expect(createOtherCalls).toBe(0);
  });

  it('only: registers just the named groups', async () => {
    const outcomes = await registerProvider(broken.withUnwrapMany, {
      only: ['round-trip', 'unwrap-many'],
      features: { unwrapMany: true },
    });
    expect(names(outcomes)).toEqual([ROUND_TRIP, ...UNWRAP_MANY]);
    expect(failed(outcomes)).toEqual([]);
    // And the group still fails a provider that breaks it.
    const broke = await registerProvider(broken.dedupingUnwrapMany, {
      only: ['unwrap-many'],
      features: { unwrapMany: true },
    });
    expect(failed(broke)).toEqual([UNWRAP_MANY[0]]);
  });

  it('only and skip together: only, minus skip', () => {
    const registered = registeredNames((api) =>
      providerConformanceSuite(
        api,
        { create: async () => broken.good(keyA), createOther: async () => broken.good(keyB) },
        { only: ['shape', 'round-trip', 'tamper'], skip: ['tamper'] },
      ),
    );
    expect(registered).toEqual([
      'implements KEK provider specification v1 with a valid providerId and keyRef',
      ROUND_TRIP,
    ]);
  });

  it('every group registers at least one test with all features, and only its own', () => {
    const harness = {
      create: async () => broken.good(keyA),
      createOther: async () => broken.good(keyB),
    };
    const all = registeredNames((api) =>
      providerConformanceSuite(api, harness, { features: ALL_FEATURES }),
    );
    const byGroup = PROVIDER_GROUPS.map((group) =>
      registeredNames((api) =>
        providerConformanceSuite(api, harness, { features: ALL_FEATURES, only: [group] }),
      ),
    );
    for (const [i, group] of PROVIDER_GROUPS.entries()) {
      expect(byGroup[i]!.length, group).toBeGreaterThan(0);
    }
    // The groups partition the suite: together, in order, they are exactly the whole suite.
    expect(byGroup.flat()).toEqual(all);
  });

  it('throws, when registered, on an unknown group name', () => {
    const harness = {
      create: async () => broken.good(keyA),
      createOther: async () => broken.good(keyB),
    };
    expect(() =>
      registeredNames((api) =>
        providerConformanceSuite(api, harness, { skip: ['rewrapp' as ProviderGroup] }),
      ),
    ).toThrow(/unknown group "rewrapp" in options\.skip; the groups are shape, features/);
    expect(() =>
      registeredNames((api) =>
        providerConformanceSuite(api, harness, { only: ['nope' as ProviderGroup] }),
      ),
    ).toThrow(/unknown group "nope" in options\.only/);
  });

  it('throws when nothing would be tested, and when only names an undeclared feature', () => {
    const harness = {
      create: async () => broken.good(keyA),
      createOther: async () => broken.good(keyB),
    };
    expect(() =>
      registeredNames((api) =>
        providerConformanceSuite(api, harness, { skip: [...PROVIDER_GROUPS] }),
      ),
    ).toThrow(/switch off every group/);
    expect(() =>
      registeredNames((api) =>
        providerConformanceSuite(api, harness, {
          skip: PROVIDER_GROUPS.filter((g) => g !== 'rewrap'),
        }),
      ),
    ).toThrow(/every group the provider has/);
    expect(() =>
      registeredNames((api) => providerConformanceSuite(api, harness, { only: ['rewrap'] })),
    ).toThrow(/options\.only names 'rewrap' but features\.rewrap is not declared/);
  });
});

async function runAdapter(
  options: AdapterConformanceOptions,
  adapter = memoryAdapter({ blindIndex: true }),
): Promise<Outcome[]> {
  return runCollected((api) => adapterConformanceSuite(api, adapter, options));
}

describe('adapterConformanceSuite groups', () => {
  it('names 13 stable groups, one test each, that a correct adapter passes', async () => {
    expect(ADAPTER_GROUPS).toEqual([
      'insert',
      'insert-many',
      'read-all',
      'update',
      'null',
      'empty-string',
      'unicode',
      'large-value',
      'no-double-encryption',
      'foreign-token',
      'copied-token',
      'query-guard',
      'blind-index',
    ]);
    const outcomes = await runAdapter({});
    expect(outcomes).toHaveLength(ADAPTER_GROUPS.length);
    expect(failed(outcomes)).toEqual([]);
  });

  it('each group is one test, in order', async () => {
    const all = names(await runAdapter({}));
    const single: string[] = [];
    for (const group of ADAPTER_GROUPS) {
      const outcomes = await runAdapter({ only: [group] });
      expect(outcomes, group).toHaveLength(1);
      expect(failed(outcomes), group).toEqual([]);
      single.push(...names(outcomes));
    }
    expect(single).toEqual(all);
  });

  it('skip insert-many: no test calls insertMany, the large-value test still runs', async () => {
    const adapter = memoryAdapter({ blindIndex: true });
    const outcomes = await runAdapter({ skip: ['insert-many'] }, adapter);
    expect(outcomes).toHaveLength(ADAPTER_GROUPS.length - 1);
    expect(names(outcomes)).not.toContain('insertMany stores tokens for every row');
    expect(names(outcomes)).toContain('a 64 KiB value round-trips');
    expect(failed(outcomes)).toEqual([]);
    expect(adapter.calls.insertMany).toBeUndefined();
    // With every group on, insertMany is called (by insert-many and large-value).
    const full = memoryAdapter({ blindIndex: true });
    await runAdapter({}, full);
    expect(full.calls.insertMany).toBe(3);
  });

  it('skip query-guard: an adapter that cannot refuse filters runs the rest', async () => {
    const adapter = memoryAdapter({ blindIndex: true });
    const outcomes = await runAdapter({ skip: ['query-guard'] }, adapter);
    expect(names(outcomes)).not.toContain(
      'a query filtering on an encrypted field throws CmekQueryError naming the field',
    );
    expect(outcomes).toHaveLength(ADAPTER_GROUPS.length - 1);
    expect(adapter.calls.whereOnEncrypted).toBeUndefined();
  });

  it('throws, when registered, on an unknown group or when nothing is left', async () => {
    await expect(
      runAdapter({ skip: ['upsert' as (typeof ADAPTER_GROUPS)[number]] }),
    ).rejects.toThrow(/unknown group "upsert" in options\.skip/);
    await expect(runAdapter({ skip: [...ADAPTER_GROUPS] })).rejects.toThrow(
      /switch off every group/,
    );
  });

  it('blind-index is off for a harness that does not declare it: the other groups run as before', async () => {
    const adapter = memoryAdapter();
    const outcomes = await runAdapter({}, adapter);
    expect(outcomes).toHaveLength(ADAPTER_GROUPS.length - 1);
    expect(failed(outcomes)).toEqual([]);
    expect(names(outcomes)).not.toContain(BLIND_INDEX);
    await expect(runAdapter({ only: ['blind-index'] }, adapter)).rejects.toThrow(
      /does not declare blindIndex/,
    );
    await expect(
      runAdapter({ skip: ADAPTER_GROUPS.filter((g) => g !== 'blind-index') }, adapter),
    ).rejects.toThrow(/switch off every group/);
  });

  for (const bug of ['stale-on-update', 'no-unique', 'plaintext-index'] as const) {
    it(`blind-index fails an adapter whose index is ${bug}`, async () => {
      const outcomes = await runAdapter(
        { only: ['blind-index'] },
        memoryAdapter({ blindIndex: bug }),
      );
      expect(failed(outcomes)).toEqual([BLIND_INDEX]);
    });
  }
});

const BLIND_INDEX = 'a blind index is kept in step on every write, finds the row, and is unique';
