/** `cmekExtension`: the Prisma Client extension that encrypts and decrypts the configured fields. */
import { CmekQueryError } from '@cmek/core';
import { Prisma } from '@prisma/client/extension';
import {
  isPlainObject,
  type ModelInfo,
  modelOf,
  relatedModel,
  type Schema,
  schemaOf,
} from './data-model';
import { type CmekExtensionOptions, type NormalisedOptions, normaliseOptions } from './options';
import { checkOperation } from './query-rules';
import { openResult } from './read';
import { scrubTokens } from './redact';
import { refuseTenantless } from './tenant';
import { isWrite, sealArgs } from './write';

/** The model operations whose result holds records of the model. */
const RETURNS_RECORDS = new Set([
  'findUnique',
  'findUniqueOrThrow',
  'findFirst',
  'findFirstOrThrow',
  'findMany',
  'create',
  'createManyAndReturn',
  'update',
  'updateManyAndReturn',
  'upsert',
  'delete',
]);

/** Operations whose result holds no field value (counts, aggregates checked by the rules). */
const NO_RECORDS = new Set([
  'createMany',
  'updateMany',
  'deleteMany',
  'count',
  'aggregate',
  'groupBy',
]);

/** The clients `cmekExtension` returned (a row store must not be given one: it would decrypt). */
const extended = new WeakSet<object>();

/** Whether `client` is one `cmekExtension` returned. */
export function isCmekClient(client: unknown): boolean {
  return typeof client === 'object' && client !== null && extended.has(client);
}

interface OperationCall {
  readonly model?: string;
  readonly operation: string;
  readonly args: unknown;
  readonly query: (args: unknown) => PromiseLike<unknown>;
  /** Prisma's own parameters of the call; `dataPath` is set by the fluent API. */
  readonly __internalParams?: { readonly dataPath?: unknown };
}

/**
 * The model of the records a call returns. A fluent call (`user.findUnique(…).posts()`) reaches
 * the extension as `user.findUnique({ select: { posts: … } })`, but Prisma hands it the records
 * at the end of the call's `dataPath` (`['select', 'posts']`): the posts, not the user.
 */
function resultModel(schema: Schema, model: ModelInfo, call: OperationCall): ModelInfo {
  const path = call.__internalParams?.dataPath;
  if (!Array.isArray(path)) return model;
  let current = model;
  for (const segment of path) {
    if (segment === 'select' || segment === 'include') continue;
    const related =
      typeof segment === 'string' ? relatedModel(schema, current, segment) : undefined;
    if (related === undefined) {
      throw new CmekQueryError(
        current.name,
        `a fluent call through ${String(segment)} of ${current.name} is not understood by @cmek/adapter-prisma`,
      );
    }
    current = related;
  }
  return current;
}

async function run(config: NormalisedOptions, schema: Schema, call: OperationCall) {
  const { operation, query } = call;
  if (call.model === undefined) return query(call.args);
  const model = modelOf(schema, call.model);
  if (!RETURNS_RECORDS.has(operation) && !NO_RECORDS.has(operation)) {
    throw new CmekQueryError(
      call.model,
      `${call.model}.${operation} is not covered by @cmek/adapter-prisma (it neither encrypts nor decrypts it); use a covered operation`,
    );
  }
  const args = checkOperation(schema, model, operation, isPlainObject(call.args) ? call.args : {});
  if (RETURNS_RECORDS.has(operation)) refuseTenantless(schema, model, args);
  let written: ReadonlyMap<string, string> | undefined;
  let sent: unknown = isPlainObject(call.args) ? args : call.args;
  if (isWrite(operation) && isPlainObject(call.args)) {
    const sealed = await sealArgs(config.envelope, schema, model, operation, args);
    // the nested writes' lookups are rewritten in `sealed.args` even when nothing was encrypted
    sent = sealed.args;
    if (sealed.sealed) written = sealed.written;
  }
  let result: unknown;
  try {
    result = await query(sent);
  } catch (error) {
    throw written === undefined ? error : scrubTokens(error);
  }
  if (!RETURNS_RECORDS.has(operation)) return result;
  return openResult(config.envelope, schema, resultModel(schema, model, call), result, written);
}

/**
 * The cmek Prisma Client extension: `prisma.$extends(cmekExtension({ envelope, models,
 * indexer? }))` returns a client that encrypts the configured fields on every write path and
 * decrypts them on every read, writes the blind index of an indexed field beside it, answers
 * equality filters on an indexed field through its index, and refuses (`CmekQueryError`) other
 * filters, sorts, groups and aggregates on encrypted fields.
 *
 * The options are validated when this is called; the models and fields are checked against the
 * client's data model when the extension is applied (`CmekConfigError`).
 */
export function cmekExtension(options: CmekExtensionOptions) {
  const config = normaliseOptions(options);
  return Prisma.defineExtension((client) => {
    const schema = schemaOf(client, config.models);
    /**
     * `base` with the cmek query hook applied last. Prisma runs the query hooks of a client in
     * the order their extensions were applied, so a query extension applied after this one
     * would see the tokens and could add a plaintext after the encryption (or a filter after the
     * rules). The returned client's `$extends` therefore applies the new extension to `base`
     * and this one after it again: the cmek hook stays the last before the query runs.
     */
    const apply = (base: typeof client): typeof client => {
      const out = base.$extends({
        name: '@cmek/adapter-prisma',
        query: {
          $allModels: {
            $allOperations(call) {
              return run(config, schema, call as OperationCall);
            },
          },
        },
      });
      const wrapped = new Proxy(out, {
        get(target, prop) {
          if (prop === '$extends') {
            return (extension: Parameters<typeof base.$extends>[0]) =>
              apply(base.$extends(extension) as typeof client);
          }
          return Reflect.get(target, prop);
        },
      });
      extended.add(wrapped);
      extended.add(out);
      return wrapped as typeof client;
    };
    return apply(client);
  });
}
