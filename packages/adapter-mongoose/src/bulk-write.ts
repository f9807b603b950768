/**
 * The `Model.bulkWrite` write path (which `Model.bulkSave` goes through too): each operation is
 * replaced by an encrypted copy, every filter and sort is checked (an equality lookup of a
 * blind-indexed path is rewritten to its index path first). `connection.bulkWrite`
 * (connection-bulk-write.ts) encrypts its operations with `encryptOperation` too.
 */
import { builtIn, type HookSchema, hookArgument } from './hooks';
import { refuseUpsertLookup, rewriteLookups } from './index-lookups';
import { isObject } from './objects';
import { type ContextsOf, type ModelLike, type PluginConfig, tenantContextsOf } from './options';
import type { FieldPath } from './paths';
import { checkFilter, checkSort } from './query-rules';
import type { Holder } from './slots';
import { encryptReplacement, encryptUpdate } from './update';

/**
 * The encrypted copy of one bulk write operation: `{ insertOne: { document } }`,
 * `{ updateOne | updateMany: { filter, update } }`, `{ replaceOne: { filter, replacement } }`,
 * `{ deleteOne | deleteMany: { filter } }`: the values are encrypted copies, every filter and
 * sort is checked. The operation passed is not changed.
 */
export async function encryptOperation(
  config: PluginConfig,
  operation: unknown,
  contexts: ContextsOf,
): Promise<unknown> {
  // blind-index lookups (never under a tenantPath: options.ts refuses the pair)
  const contextOf = contexts(undefined);
  if (!isObject(operation)) return operation;
  const { fields } = config;
  const out: Holder = { ...operation };
  for (const [kind, spec] of Object.entries(operation)) {
    if (!isObject(spec)) continue;
    const next: Holder = { ...spec };
    if ('filter' in spec) {
      const lookups: FieldPath[] = [];
      next.filter = rewriteLookups(spec.filter, config, contextOf, lookups);
      if (spec.upsert === true) refuseUpsertLookup(lookups);
      checkFilter(next.filter, fields);
    }
    if ('sort' in spec) checkSort(spec.sort, fields);
    if (kind === 'insertOne') {
      next.document = await encryptReplacement(config, spec.document, fields, contexts);
    } else if (kind === 'updateOne' || kind === 'updateMany') {
      next.update = await encryptUpdate(config, spec.update, fields, contexts, next.filter);
    } else if (kind === 'replaceOne') {
      next.replacement = await encryptReplacement(config, spec.replacement, fields, contexts);
    }
    out[kind] = next;
  }
  return out;
}

/**
 * Registers the `bulkWrite` hook of the plugin on `hooks`: the entries of the array passed are
 * replaced by encrypted copies (the caller's objects themselves are not changed).
 */
export function registerBulkWriteHooks(hooks: HookSchema, config: PluginConfig): void {
  const encryptOperations = async function (this: ModelLike, first: unknown, second: unknown) {
    const operations = hookArgument(first, second);
    if (!Array.isArray(operations)) return;
    const contexts = tenantContextsOf(config, this);
    for (let i = 0; i < operations.length; i++) {
      operations[i] = await encryptOperation(config, operations[i], contexts);
    }
  };
  hooks.pre('bulkWrite', builtIn(encryptOperations));
}
