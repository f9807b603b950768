/** Plugin options are checked when the plugin is applied, against the schema (no server needed). */
import { randomBytes } from 'node:crypto';
import { CmekConfigError, createEnvelope } from '@cmek/core';
import { createLocalKekProviderFromKey } from '@cmek/provider-local';
import mongoose from 'mongoose';
import { describe, expect, it, vi } from 'vitest';
import { type CmekPluginOptions, cmekPlugin, mongooseRowStore } from '../src/index';

const envelope = createEnvelope({ kek: createLocalKekProviderFromKey(randomBytes(32)) });

function schema() {
  return new mongoose.Schema({
    token: String,
    count: Number,
    tags: [String],
    nested: { inner: { secret: String } },
    sub: new mongoose.Schema({ pin: String }),
    hooks: [new mongoose.Schema({ secret: String })],
    mixed: mongoose.Schema.Types.Mixed,
  });
}

function apply(options: Partial<CmekPluginOptions>): () => void {
  return () => schema().plugin(cmekPlugin, { envelope, ...options } as CmekPluginOptions);
}

describe('cmekPlugin options', () => {
  it('accepts every supported kind of path', () => {
    expect(
      apply({ fields: ['token', 'nested.inner.secret', 'sub.pin', 'hooks.$.secret', 'mixed.a.b'] }),
    ).not.toThrow();
  });

  it.each([
    [['count'], /must be a String path/],
    [['tags'], /must be a String path/],
    [['sub'], /must be a String path/],
    [['nested.inner'], /not a path of the schema|must be a String path/],
    [['missing'], /not a path of the schema/],
    [['hooks.$.missing'], /not a path of the schema/],
    [['token', 'token'], /declared twice or overlaps/],
    [[], /non-empty array/],
    [['a..b'], /not a valid path/],
  ])('refuses fields %j', (fields, message) => {
    const run = apply({ fields: fields as string[] });
    expect(run).toThrow(CmekConfigError);
    expect(run).toThrow(message);
  });

  it("fields as an object: each path's own context; the deprecated context option is the same, with one warning", () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    let n = 0;
    const model = (options: Partial<CmekPluginOptions>) => {
      const s = schema();
      s.plugin(cmekPlugin, { envelope, ...options } as CmekPluginOptions);
      const name = `FieldOptions${++n}${randomBytes(3).toString('hex')}`;
      return mongoose.model(name, s) as unknown as mongoose.Model<unknown>;
    };
    const byField = model({
      fields: { token: { context: { field: 'pinned.token' } }, 'hooks.$.secret': {} },
    });
    const byOption = model({ fields: ['token'], context: { token: { field: 'pinned.token' } } });
    expect(mongooseRowStore(byField, ['token']).contextFor('token')).toEqual({
      field: 'pinned.token',
    });
    expect(mongooseRowStore(byOption, ['token']).contextFor('token')).toEqual({
      field: 'pinned.token',
    });
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]![1]).toMatchObject({ code: 'CMEK_DEP_MONGOOSE_CONTEXT' });
    warn.mockRestore();
  });

  it.each([
    [
      'a path with a context in both places',
      { fields: { token: { context: { field: 'a' } } }, context: { token: { field: 'b' } } },
    ],
    ['options of a path that are not an object', { fields: { token: 'x' } }],
    [
      'a maxPlaintextBytes that is not a positive integer',
      { fields: { token: { maxPlaintextBytes: -1 } } },
    ],
    [
      'a per-path context with a lone surrogate',
      { fields: { token: { context: { field: '\uD800' } } } },
    ],
  ])('%s is a CmekConfigError', (_what, options) => {
    expect(apply(options as never)).toThrow(CmekConfigError);
  });

  it('refuses at setup a context the envelope would refuse at the first write', () => {
    for (const context of [{ field: '\uD800' }, { field: 'x'.repeat(65_536) }]) {
      expect(apply({ fields: ['token'], context: { token: context } })).toThrow(CmekConfigError);
    }
  });

  it('refuses a missing envelope, a bad context and a context for an unknown path', () => {
    expect(() =>
      schema().plugin(cmekPlugin, { fields: ['token'] } as unknown as CmekPluginOptions),
    ).toThrow(/needs `envelope`/);
    expect(apply({ fields: ['token'], context: { other: { field: 'x' } } })).toThrow(
      /not in fields/,
    );
    expect(
      apply({
        fields: ['token'],
        context: { token: { field: 1 } as unknown as { field: string } },
      }),
    ).toThrow(/map non-empty keys to strings/);
  });

  it('refuses being applied twice to one schema', () => {
    const s = schema();
    s.plugin(cmekPlugin, { envelope, fields: ['token'] });
    expect(() => s.plugin(cmekPlugin, { envelope, fields: ['nested.inner.secret'] })).toThrow(
      /applied twice/,
    );
  });
});
