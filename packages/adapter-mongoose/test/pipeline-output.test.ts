/** The rule for pipelines that store their output ($merge, $out), without a server. */
import { CmekQueryError } from '@cmek/core';
import { describe, expect, it } from 'vitest';
import { checkPipelineOutput } from '../src/aggregate';
import type { FieldPath } from '../src/paths';

const fields: FieldPath[] = [
  { path: 'token', segments: ['token'], inArray: false },
  { path: 'smtp.password', segments: ['smtp', 'password'], inArray: false },
];

function refusedField(pipeline: unknown[]): string {
  try {
    checkPipelineOutput(pipeline, fields);
  } catch (error) {
    expect(CmekQueryError.isInstance(error)).toBe(true);
    return (error as CmekQueryError).field;
  }
  throw new Error('expected CMEK_QUERY, the pipeline passed');
}

describe('checkPipelineOutput', () => {
  it('leaves pipelines without $merge or $out alone', () => {
    checkPipelineOutput([{ $set: { token: 'literal' } }, { $replaceWith: { a: 1 } }], fields);
  });

  it('refuses a stage writing an encrypted path before $merge or $out', () => {
    const OUT = { $out: 'archive' };
    const MERGE = { $merge: { into: 'archive' } };
    expect(refusedField([{ $set: { token: 'literal' } }, MERGE])).toBe('token');
    expect(refusedField([{ $addFields: { 'smtp.password': 'x' } }, OUT])).toBe('smtp.password');
    expect(refusedField([{ $set: { smtp: { password: 'x' } } }, OUT])).toBe('smtp.password');
    expect(refusedField([{ $project: { token: 'literal' } }, OUT])).toBe('token');
    expect(refusedField([{ $project: { token: { $literal: 'x' } } }, OUT])).toBe('token');
    expect(refusedField([{ $project: { smtp: { password: { $concat: ['a'] } } } }, OUT])).toBe(
      'smtp.password',
    );
    expect(refusedField([{ $group: { _id: '$name', token: { $first: '$name' } } }, OUT])).toBe(
      'token',
    );
    expect(refusedField([{ $lookup: { from: 'x', as: 'token', pipeline: [] } }, OUT])).toBe(
      'token',
    );
    expect(refusedField([{ $count: 'token' }, OUT])).toBe('token');
    expect(
      refusedField([
        { $merge: { into: 'archive', whenMatched: [{ $set: { token: 'literal' } }] } },
      ]),
    ).toBe('token');
  });

  it('refuses stages whose output cannot be checked, before $merge or $out', () => {
    for (const stage of [
      { $replaceWith: { token: 'x' } },
      { $replaceRoot: { newRoot: { token: 'x' } } },
      { $unionWith: { coll: 'plain' } },
      { $facet: { a: [] } },
    ]) {
      expect(refusedField([stage, { $out: 'archive' }])).toBe('token');
    }
  });

  it('lets through pipelines that keep the stored tokens as they are', () => {
    checkPipelineOutput(
      [
        { $match: { name: 'a' } },
        { $project: { name: 1, token: 1, smtp: { password: 1 } } },
        { $set: { copiedAt: '$$NOW' } },
        { $unset: 'smtp.host' },
        { $limit: 10 },
        { $merge: { into: 'archive', whenMatched: 'replace' } },
      ],
      fields,
    );
    checkPipelineOutput([{ $project: { token: 0 } }, { $out: 'archive' }], fields);
  });
});
