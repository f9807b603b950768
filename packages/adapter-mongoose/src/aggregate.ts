/**
 * The `Model.aggregate` path. Its results are not decrypted (their shape is arbitrary); before it
 * runs, no stage may read an encrypted path (query-rules.ts), and a pipeline that stores its
 * output (`$merge`, `$out`) may not put a value there either: `$merge` / `$out` would store it as
 * it is. The collection guard applies the second rule to `Model.collection.aggregate` too.
 *
 * The output rule, for a pipeline with `$merge` or `$out`: every stage must be one whose output
 * keys can be checked, and none of them may name an encrypted path (or a container of one),
 * except an inclusion or exclusion in `$project`. Documents that pass keep their stored tokens
 * unchanged (the encrypted paths are the plugin's in the output too, whichever collection it goes
 * to).
 */
import { CmekQueryError } from '@cmek/core';
import { builtIn, type HookSchema } from './hooks';
import { isObject } from './objects';
import type { PluginConfig } from './options';
import { type FieldPath, keySegments, pathList, relation } from './paths';
import { checkPipeline, checkUpdatePipeline } from './query-rules';
import type { Holder } from './slots';

function refuseWrite(field: FieldPath, stage: string): never {
  throw new CmekQueryError(
    field.path,
    `a ${stage} stage of a pipeline with $merge or $out writes the encrypted path '${field.path}': $merge / $out would store the value unencrypted; write it through the model instead`,
  );
}

/** Stages that keep or remove the stored values, and add no key. */
const KEEPING = new Set(['$match', '$sort', '$limit', '$skip', '$sample', '$unset', '$redact']);

/** Throws if `key` (an output key of a stage) is, contains or lies inside an encrypted path. */
function checkOutputKey(stage: string, key: unknown, fields: readonly FieldPath[]): void {
  if (typeof key !== 'string') return;
  const segments = keySegments(key);
  for (const field of fields) {
    if (relation(segments, field.segments) !== 'none') refuseWrite(field, stage);
  }
}

function isFlag(value: unknown): boolean {
  return typeof value === 'number' || typeof value === 'boolean';
}

/** `$project`: an encrypted path (or its container) may be included or excluded, not computed. */
function checkProjection(
  spec: Holder,
  prefix: readonly string[],
  fields: readonly FieldPath[],
): void {
  for (const [key, value] of Object.entries(spec)) {
    const segments = [...prefix, ...keySegments(key)];
    for (const field of fields) {
      const rel = relation(segments, field.segments);
      if (rel === 'none' || isFlag(value)) continue;
      const nested = isObject(value) && !Object.keys(value).some((k) => k.startsWith('$'));
      if (rel === 'keyIsPrefix' && nested) checkProjection(value, segments, [field]);
      else refuseWrite(field, '$project');
    }
  }
}

/** The keys a stage writes, for the stages whose output keys are known. */
function outputKeys(name: string, spec: unknown): unknown[] | undefined {
  const object = isObject(spec) ? spec : {};
  switch (name) {
    case '$set':
    case '$addFields':
      return Object.keys(object);
    case '$group':
      return Object.keys(object).filter((k) => k !== '_id');
    case '$count':
      return [spec];
    case '$unwind':
      return [object.includeArrayIndex];
    case '$lookup':
      return [object.as];
    case '$graphLookup':
      return [object.as, object.depthField];
    case '$sortByCount':
      return ['_id', 'count'];
    case '$bucket':
    case '$bucketAuto':
      return ['_id', 'count', ...(isObject(object.output) ? Object.keys(object.output) : [])];
    default:
      return undefined;
  }
}

function checkStage(name: string, spec: unknown, fields: readonly FieldPath[]): void {
  if (KEEPING.has(name) || name === '$out') return;
  if (name === '$project') {
    if (isObject(spec)) checkProjection(spec, [], fields);
    return;
  }
  if (name === '$merge') {
    const whenMatched = isObject(spec) ? spec.whenMatched : undefined;
    if (Array.isArray(whenMatched))
      checkUpdatePipeline(whenMatched, fields, "$merge's whenMatched");
    return;
  }
  const keys = outputKeys(name, spec);
  if (keys === undefined) {
    throw new CmekQueryError(
      fields[0]!.path,
      `a ${name} stage in a pipeline with $merge or $out cannot be checked for the encrypted paths (${pathList(fields)}): $merge / $out would store what it outputs as it is; project the encrypted paths out first, or write through the model`,
    );
  }
  for (const key of keys) checkOutputKey(name, key, fields);
}

/** Throws if a pipeline with `$merge` or `$out` could store something else than the stored tokens. */
export function checkPipelineOutput(pipeline: unknown, fields: readonly FieldPath[]): void {
  if (!Array.isArray(pipeline)) return;
  const stages = pipeline.filter(isObject);
  if (!stages.some((stage) => '$merge' in stage || '$out' in stage)) return;
  for (const stage of stages) {
    for (const [name, spec] of Object.entries(stage)) checkStage(name, spec, fields);
  }
}

interface AggregateLike {
  pipeline(): unknown[];
}

/** Registers the `aggregate` hook of the plugin on `hooks`. */
export function registerAggregateHooks(hooks: HookSchema, config: PluginConfig): void {
  const { fields } = config;
  hooks.pre(
    'aggregate',
    builtIn(function (this: AggregateLike) {
      const pipeline = this.pipeline();
      checkPipeline(pipeline, fields, 'an aggregation stage');
      checkPipelineOutput(pipeline, fields);
    }),
  );
}
