/** The encrypted copy of one bulk write operation (`Model.bulkWrite`, `connection.bulkWrite`). */
import type { ContextOf } from './crypt';
import { isObject } from './objects';
import type { PluginConfig } from './options';
import { checkFilter, checkSort } from './query-rules';
import type { Holder } from './slots';
import { encryptReplacement, encryptUpdate } from './update';

/**
 * `{ insertOne: { document } }`, `{ updateOne | updateMany: { filter, update } }`,
 * `{ replaceOne: { filter, replacement } }`, `{ deleteOne | deleteMany: { filter } }`: the
 * values are encrypted copies, every filter and sort is checked. The operation passed is not
 * changed.
 */
export async function encryptOperation(
  config: PluginConfig,
  operation: unknown,
  contextOf: ContextOf,
): Promise<unknown> {
  if (!isObject(operation)) return operation;
  const { envelope, fields } = config;
  const out: Holder = { ...operation };
  for (const [kind, spec] of Object.entries(operation)) {
    if (!isObject(spec)) continue;
    const next: Holder = { ...spec };
    if ('filter' in spec) checkFilter(spec.filter, fields);
    if ('sort' in spec) checkSort(spec.sort, fields);
    if (kind === 'insertOne') {
      next.document = await encryptReplacement(envelope, spec.document, fields, contextOf);
    } else if (kind === 'updateOne' || kind === 'updateMany') {
      next.update = await encryptUpdate(envelope, spec.update, fields, contextOf);
    } else if (kind === 'replaceOne') {
      next.replacement = await encryptReplacement(envelope, spec.replacement, fields, contextOf);
    }
    out[kind] = next;
  }
  return out;
}
