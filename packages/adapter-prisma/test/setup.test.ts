/** The options are checked when the extension is made and when it is applied to a client. */
import {
  type BlindIndexer,
  CmekConfigError,
  createBlindIndexKey,
  createEnvelope,
  loadBlindIndexes,
} from '@cmek/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cmekExtension } from '../src/index';
import { makeClient } from './support/db';
import { countingProvider } from './support/provider';

describe('cmekExtension options', () => {
  const envelope = createEnvelope({ kek: countingProvider() });
  // no connection is opened: the checks read the client's data model only
  const client = makeClient('prisma_setup_unused');
  afterAll(() => client.$disconnect());

  const apply = (models: Record<string, unknown>) => () =>
    client.$extends(cmekExtension({ envelope, models } as Parameters<typeof cmekExtension>[0]));

  it('refuses a missing envelope or models', () => {
    expect(() => cmekExtension({ models: { User: { fields: ['note'] } } } as never)).toThrow(
      CmekConfigError,
    );
    expect(() => cmekExtension({ envelope, models: {} })).toThrow(CmekConfigError);
    expect(() => cmekExtension({ envelope, models: { User: { fields: [] } } })).toThrow(
      CmekConfigError,
    );
  });

  it('refuses an invalid context or maxPlaintextBytes', () => {
    expect(() =>
      cmekExtension({
        envelope,
        models: { User: { fields: { note: { context: { field: 1 } as never } } } },
      }),
    ).toThrow(/models\.User\.fields\.note\.context/);
    expect(() =>
      cmekExtension({
        envelope,
        models: { User: { fields: { note: { maxPlaintextBytes: -1 } } } },
      }),
    ).toThrow(CmekConfigError);
  });

  it('refuses a model or field the client does not have, and a field that is not a String', () => {
    expect(apply({ Users: { fields: ['note'] } })).toThrow(/Users is not a model/);
    expect(apply({ User: { fields: ['token'] } })).toThrow(/User has no field token/);
    expect(apply({ Post: { fields: ['authorId'] } })).toThrow(/only String fields/);
    expect(apply({ Post: { fields: ['author'] } })).toThrow(CmekConfigError);
    expect(apply({ User: { fields: ['slackToken'] } })).not.toThrow();
  });
});

describe('cmekExtension blindIndex options', () => {
  const kek = countingProvider();
  const envelope = createEnvelope({ kek });
  const client = makeClient('prisma_setup_unused');
  let indexer: BlindIndexer;
  beforeAll(async () => {
    indexer = await loadBlindIndexes({ keys: [await createBlindIndexKey(kek)], kek });
  });
  afterAll(async () => {
    indexer?.close();
    await client.$disconnect();
  });

  const withIndex = (blindIndex: unknown, field = 'tokenHash') => ({
    ApiToken: { fields: { [field]: { blindIndex } } },
  });
  const apply = (models: Record<string, unknown>) => () =>
    client.$extends(
      cmekExtension({ envelope, models, indexer } as Parameters<typeof cmekExtension>[0]),
    );

  it('refuses a blindIndex without an indexer, and an invalid blindIndex option', () => {
    expect(() =>
      cmekExtension({
        envelope,
        models: withIndex({ column: 'tokenHashBidx' }) as never,
      }),
    ).toThrow(/blindIndex needs the extension's `indexer`/);
    expect(() =>
      cmekExtension({
        envelope,
        models: withIndex({ column: 'tokenHashBidx' }) as never,
        indexer: {} as never,
      }),
    ).toThrow(CmekConfigError);
    for (const bad of [{ column: '' }, { column: 'tokenHashBidx', mode: 'fast' }, []]) {
      expect(() => cmekExtension({ envelope, models: withIndex(bad) as never, indexer })).toThrow(
        /models\.ApiToken\.fields\.tokenHash\.blindIndex/,
      );
    }
  });

  it('refuses an index field the model does not have, that is not a String, or is encrypted', () => {
    expect(apply(withIndex({ column: 'tokenHashIndex' }))).toThrow(
      /ApiToken has no field tokenHashIndex/,
    );
    expect(apply(withIndex({ column: 'ownerId' }))).toThrow(/an index field is a String/);
    expect(
      apply({
        ApiToken: {
          fields: { tokenHash: { blindIndex: { column: 'email' } }, email: {} },
        },
      }),
    ).toThrow(/ApiToken\.email is encrypted/);
    expect(
      apply({
        ApiToken: {
          fields: {
            tokenHash: { blindIndex: { column: 'emailBidx' } },
            email: { blindIndex: { column: 'emailBidx' } },
          },
        },
      }),
    ).toThrow(/blind index of both/);
    expect(apply(withIndex({ column: 'tokenHashBidx', mode: 'slow' }))).not.toThrow();
  });
});
