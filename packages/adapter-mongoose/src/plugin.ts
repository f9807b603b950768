/** `cmekPlugin`: the Mongoose middleware that encrypts on every write and decrypts on reads. */
import { CmekConfigError } from '@cmek/core';
import type { Schema } from 'mongoose';
import { type ContextOf, decryptSlots, encryptSlots, restore, type Saved } from './crypt';
import {
  type CmekPluginOptions,
  contextFor,
  type ModelLike,
  normaliseOptions,
  type PluginConfig,
  rememberConfig,
} from './options';
import type { SchemaView } from './paths';
import { checkFilter, checkKey, checkPipeline, checkSort } from './query-rules';
import { type Holder, isMongooseDocument, type Slot, SlotFinder } from './slots';
import { encryptReplacement, encryptUpdate } from './update';

/** The parts of a Mongoose document the middleware uses. */
interface DocumentLike {
  readonly _doc: Holder;
  readonly $isSubdocument?: boolean;
  readonly constructor: ModelLike;
}

/** The parts of a Mongoose query the middleware uses. */
interface QueryLike {
  readonly op?: string;
  readonly model: ModelLike;
  readonly _distinct?: unknown;
  getFilter(): unknown;
  getUpdate(): unknown;
  setUpdate(update: unknown): void;
  getOptions(): Record<string, unknown>;
}

interface AggregateLike {
  pipeline(): unknown[];
}

type Middleware = (this: never, ...args: never[]) => unknown;

/**
 * The hook registration of a schema, typed loosely on purpose: Mongoose's own overloads differ
 * between 8 and 9, and the hooks below accept both calling conventions.
 */
interface HookSchema {
  pre(names: string | string[], options: object, fn: Middleware): unknown;
  pre(names: string | string[], fn: Middleware): unknown;
  post(names: string | string[], options: object, fn: Middleware): unknown;
  post(names: string | string[], fn: Middleware): unknown;
}

const QUERY = { document: false, query: true };
const FILTERED = [
  'find',
  'findOne',
  'countDocuments',
  'distinct',
  'deleteOne',
  'deleteMany',
  'findOneAndDelete',
  'updateOne',
  'updateMany',
  'findOneAndUpdate',
  'replaceOne',
  'findOneAndReplace',
];
const UPDATES = new Set(['updateOne', 'updateMany', 'findOneAndUpdate']);
const REPLACEMENTS = new Set(['replaceOne', 'findOneAndReplace']);
const RETURNING = ['find', 'findOne', 'findOneAndUpdate', 'findOneAndReplace', 'findOneAndDelete'];

function isObject(value: unknown): value is Holder {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Mongoose 8 passes `next` first to middleware that declares parameters; Mongoose 9 does not. */
function argument(first: unknown, second: unknown): unknown {
  return typeof first === 'function' ? second : first;
}

/** Decrypts, in place, hydrated documents or lean objects (a result, or an array of them). */
async function decryptResults(
  config: PluginConfig,
  results: unknown,
  contextOf: ContextOf,
): Promise<void> {
  const list = Array.isArray(results) ? results : [results];
  const finder = new SlotFinder(false);
  const slots: Slot[] = [];
  for (const item of list) {
    if (item !== null && typeof item === 'object') {
      slots.push(...finder.collectAll(finder.root(item), config.fields));
    }
  }
  if (slots.length > 0) await decryptSlots(config.envelope, slots, contextOf);
}

/** The encrypted copy of one `bulkWrite` operation. */
async function encryptOperation(
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

/**
 * The Mongoose plugin: `schema.plugin(cmekPlugin, { envelope, fields: ['slackToken'] })`.
 * Apply it to the top-level schema (not to a schema used as a subdocument), after your own
 * middleware that reads or changes the encrypted paths.
 */
export function cmekPlugin(schema: Schema, options: CmekPluginOptions): void {
  const hooks = schema as unknown as HookSchema;
  const config = normaliseOptions(schema as unknown as SchemaView, options);
  rememberConfig(schema, config);
  const { envelope, fields } = config;
  const contextsOf =
    (model: ModelLike | undefined): ContextOf =>
    (field) =>
      contextFor(config, field, model);

  // Documents: `save` (which `create` and `insertOne` use). The document's raw storage holds
  // the tokens only while the write runs; the plaintext is put back after it, or on failure.
  const saving = new WeakMap<object, Saved[]>();
  const putBack = (doc: object): void => {
    const saved = saving.get(doc);
    saving.delete(doc);
    if (saved) restore(saved);
  };
  hooks.pre('save', async function (this: DocumentLike) {
    if (this.$isSubdocument === true) {
      throw new CmekConfigError(
        'cmekPlugin is applied to a schema used as a subdocument: apply it to the top-level schema and declare the nested paths there',
      );
    }
    const model = this.constructor;
    const finder = new SlotFinder(false);
    const slots = finder.collectAll(this._doc, fields);
    const saved = await encryptSlots(envelope, slots, contextsOf(model));
    saving.set(this, [...(saving.get(this) ?? []), ...saved]);
  });
  hooks.post('save', function (this: DocumentLike) {
    putBack(this);
  });
  hooks.post(
    'save',
    function (this: DocumentLike, error: unknown, _doc: unknown, next: (error?: unknown) => void) {
      putBack(this);
      next(error);
    },
  );

  // Model middleware: insertMany and bulkWrite. The entries of the array passed are replaced by
  // encrypted copies (the caller's objects themselves are not changed).
  hooks.pre('insertMany', async function (this: ModelLike, first: unknown, second: unknown) {
    const docs = argument(first, second);
    const contextOf = contextsOf(this);
    const list: unknown[] = Array.isArray(docs) ? docs : [docs];
    const slots: Slot[] = [];
    for (const [i, doc] of list.entries()) {
      if (isMongooseDocument(doc) || !Array.isArray(docs)) {
        // a document is inserted as it is: encrypt its storage (decrypted again afterwards)
        const inPlace = new SlotFinder(false);
        slots.push(...inPlace.collectAll(inPlace.root(doc), fields));
      } else {
        const finder = new SlotFinder(true);
        const copy = finder.root(doc);
        slots.push(...finder.collectAll(copy, fields));
        docs[i] = copy;
      }
    }
    await encryptSlots(envelope, slots, contextOf);
  });
  hooks.post('insertMany', async function (this: ModelLike, docs: unknown) {
    if (Array.isArray(docs)) await decryptResults(config, docs, contextsOf(this));
  });
  hooks.pre('bulkWrite', async function (this: ModelLike, first: unknown, second: unknown) {
    const operations = argument(first, second);
    if (!Array.isArray(operations)) return;
    const contextOf = contextsOf(this);
    for (let i = 0; i < operations.length; i++) {
      operations[i] = await encryptOperation(config, operations[i], contextOf);
    }
  });

  // Queries: filters and sorts are checked; updates and replacements are encrypted copies.
  hooks.pre(FILTERED, QUERY, async function (this: QueryLike) {
    checkFilter(this.getFilter(), fields);
    checkSort(this.getOptions().sort, fields);
    const op = this.op ?? '';
    if (op === 'distinct') checkKey(this._distinct, fields, 'distinct');
    if (UPDATES.has(op)) {
      const update = this.getUpdate();
      if (update != null) {
        this.setUpdate(await encryptUpdate(envelope, update, fields, contextsOf(this.model)));
      }
    } else if (REPLACEMENTS.has(op)) {
      const replacement = this.getUpdate();
      if (replacement != null) {
        this.setUpdate(
          await encryptReplacement(envelope, replacement, fields, contextsOf(this.model)),
        );
      }
    }
  });
  hooks.post(RETURNING, QUERY, async function (this: QueryLike, result: unknown) {
    const options = this.getOptions();
    const wrapped =
      (options.includeResultMetadata === true || options.rawResult === true) &&
      isObject(result) &&
      'value' in result;
    await decryptResults(config, wrapped ? result.value : result, contextsOf(this.model));
  });

  hooks.pre('aggregate', function (this: AggregateLike) {
    checkPipeline(this.pipeline(), fields, 'an aggregation stage');
  });
}
