/** The `blindIndex` option of the plugin's paths and its `indexer`, checked at setup (no server needed). */
import { randomBytes } from 'node:crypto';
import {
  type BlindIndexer,
  CmekConfigError,
  createBlindIndexKey,
  createEnvelope,
  type FieldOptions,
  loadBlindIndexes,
} from '@cmek/core';
import { createLocalKekProviderFromKey } from '@cmek/provider-local';
import mongoose from 'mongoose';
import { beforeAll, describe, expect, it } from 'vitest';
import { type CmekPluginOptions, cmekPlugin } from '../src/index';

const kek = createLocalKekProviderFromKey(randomBytes(32));
const envelope = createEnvelope({ kek });
let indexer: BlindIndexer;

beforeAll(async () => {
  indexer = await loadBlindIndexes({ keys: [await createBlindIndexKey(kek)], kek });
});

function schema() {
  return new mongoose.Schema({
    token: String,
    tokenBidx: String,
    other: String,
    count: Number,
    nested: { inner: { secret: String } },
    hooks: [new mongoose.Schema({ secret: String })],
  });
}

function apply(
  fields: Record<string, FieldOptions>,
  options: Partial<CmekPluginOptions> = { indexer },
): () => void {
  return () => schema().plugin(cmekPlugin, { envelope, fields, ...options } as CmekPluginOptions);
}

describe('cmekPlugin blindIndex option', () => {
  it('accepts an index path declared in the schema, with normalisers and slow mode', () => {
    expect(
      apply({
        token: {
          blindIndex: { column: 'tokenBidx', normalize: ['trim', 'lowercase'], mode: 'slow' },
        },
      }),
    ).not.toThrow();
    // a rotation: two index paths, the first for lookups
    expect(
      apply({ token: { blindIndex: [{ column: 'tokenBidx' }, { column: 'other' }] } }),
    ).not.toThrow();
  });

  it('refuses a bad blindIndex option, or a missing indexer, with CmekConfigError saying why', () => {
    const cases = [
      ['no indexer', { token: { blindIndex: { column: 'tokenBidx' } } }, {}, /pass `indexer`/],
      [
        'an indexer that is not one',
        { token: { blindIndex: { column: 'tokenBidx' } } },
        { indexer: {} as BlindIndexer },
        /`indexer` must be the result of loadBlindIndexes/,
      ],
      [
        'a nested path',
        { 'nested.inner.secret': { blindIndex: { column: 'tokenBidx' } } },
        undefined,
        /only a top-level path can have a blind index/,
      ],
      [
        'a path inside an array',
        { 'hooks.$.secret': { blindIndex: { column: 'tokenBidx' } } },
        undefined,
        /only a top-level path can have a blind index/,
      ],
      [
        'an index path missing from the schema',
        { token: { blindIndex: { column: 'tokenHash' } } },
        undefined,
        /'tokenHash' is not a String path of the schema: declare it/,
      ],
      [
        'an index path that is not a String',
        { token: { blindIndex: { column: 'count' } } },
        undefined,
        /'count' is not a String path/,
      ],
      [
        'a dotted index path',
        { token: { blindIndex: { column: 'nested.bidx' } } },
        undefined,
        /must be a top-level path/,
      ],
      [
        'an encrypted index path',
        { token: { blindIndex: { column: 'other' } }, other: {} },
        undefined,
        /is an encrypted path/,
      ],
      [
        'one index path for two paths',
        {
          token: { blindIndex: { column: 'tokenBidx' } },
          other: { blindIndex: { column: 'tokenBidx' } },
        },
        undefined,
        /is the index of another path too/,
      ],
      [
        'an unknown mode (core)',
        { token: { blindIndex: { column: 'tokenBidx', mode: 'fast' } } },
        undefined,
        /blindIndex.mode must be 'hmac' or 'slow'/,
      ],
      [
        'a pinned context without a field',
        { token: { blindIndex: { column: 'tokenBidx' }, context: { tenant: 't' } } },
        undefined,
        /its context needs a `field` value/,
      ],
    ] as const;
    for (const [what, fields, options, message] of cases) {
      const run = apply(
        fields as unknown as Record<string, FieldOptions>,
        options === undefined ? { indexer } : (options as Partial<CmekPluginOptions>),
      );
      expect(run, what).toThrow(CmekConfigError);
      expect(run, what).toThrow(message);
    }
  });

  it('refuses an `indexer` that is not one even without an index', () => {
    expect(apply({ token: {} }, { indexer: 'key' as unknown as BlindIndexer })).toThrow(
      /`indexer` must be the result of loadBlindIndexes/,
    );
  });
});
