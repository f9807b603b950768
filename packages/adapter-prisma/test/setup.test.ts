/** The options are checked when the extension is made and when it is applied to a client. */
import { CmekConfigError, createEnvelope } from '@cmek/core';
import { afterAll, describe, expect, it } from 'vitest';
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
