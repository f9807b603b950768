/** `cmekPlugin`: the Mongoose middleware that encrypts on every write and decrypts on reads. */
import { CmekConfigError } from '@cmek/core';
import type { Schema } from 'mongoose';
import { builtIn } from './built-in-middleware';
import { encryptOperation } from './bulk-operation';
import { type ContextOf, decryptSlots, encryptSlots, restore, type Saved } from './crypt';
import { insertedPlaintexts, rememberInserted, scopeInsertMany } from './insert-plaintexts';
import { guardModel } from './model-guard';
import { refusalIn, refuseNonStrings } from './non-strings';
import { isObject } from './objects';
import {
  type CmekPluginOptions,
  contextFor,
  type ModelLike,
  normaliseOptions,
  type PluginConfig,
  rememberConfig,
} from './options';
import { resolvePath, type SchemaView } from './paths';
import { checkPipelineOutput } from './pipeline-output';
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
  /** Mongoose emits `init` with the model when a model is compiled from the schema (or a clone). */
  on(event: 'init', listener: (model: unknown) => void): unknown;
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

/** Mongoose 8 passes `next` first to middleware that declares parameters; Mongoose 9 does not. */
function argument(first: unknown, second: unknown): unknown {
  return typeof first === 'function' ? second : first;
}

/**
 * Decrypts, in place, hydrated documents or lean objects (a result, or an array of them): one
 * `decryptMany` per field for the whole result. A token in `known` (just written by this call)
 * gets its plaintext from there instead.
 */
async function decryptResults(
  config: PluginConfig,
  results: unknown,
  contextOf: ContextOf,
  known: ReadonlyMap<string, string> = new Map(),
): Promise<void> {
  const list = Array.isArray(results) ? results : [results];
  const finder = new SlotFinder(false);
  const slots: Slot[] = [];
  for (const item of list) {
    if (item === null || typeof item !== 'object') continue;
    for (const slot of finder.collectAll(finder.root(item), config.fields)) {
      const value = slot.holder[slot.key];
      const plaintext = typeof value === 'string' ? known.get(value) : undefined;
      if (plaintext === undefined) slots.push(slot);
      else slot.holder[slot.key] = plaintext;
    }
  }
  if (slots.length > 0) await decryptSlots(config.envelope, slots, contextOf);
}

/**
 * The Mongoose plugin: `schema.plugin(cmekPlugin, { envelope, fields: ['slackToken'] })`.
 * Apply it to the top-level schema (not to a schema used as a subdocument), after your own
 * middleware that reads or changes the encrypted paths: a value set by a hook registered after
 * it reaches the collection guard unencrypted and is refused.
 */
export function cmekPlugin(schema: Schema, options: CmekPluginOptions): void {
  const hooks = schema as unknown as HookSchema;
  const config = normaliseOptions(schema as unknown as SchemaView, options);
  rememberConfig(schema, options, config);
  const { envelope, fields } = config;
  // Non-strings are refused before Mongoose's cast could put them in a CastError (non-strings.ts).
  for (const field of fields) {
    const { leaf } = resolvePath(schema as unknown as SchemaView, field.segments, field.path);
    if (leaf !== undefined) refuseNonStrings(leaf, field);
  }
  const contextsOf =
    (model: ModelLike | undefined): ContextOf =>
    (field) =>
      contextFor(config, field, model);

  // Documents: `save` (which `create` and `insertOne` use). The document's raw storage holds
  // the tokens only while the write runs; the plaintext is put back after it, or on failure.
  // Every hook is marked built-in: Mongoose 9's `{ middleware: false }` does not skip it.
  const saving = new WeakMap<object, Saved[]>();
  const putBack = (doc: object): void => {
    const saved = saving.get(doc);
    saving.delete(doc);
    if (saved) restore(saved);
  };
  const encryptDocument = async function (this: DocumentLike) {
    if (this.$isSubdocument === true) {
      throw new CmekConfigError(
        'cmekPlugin is applied to a schema used as a subdocument: apply it to the top-level schema and declare the nested paths there',
      );
    }
    const refused = refusalIn(this);
    if (refused !== undefined) throw refused;
    const model = this.constructor;
    const finder = new SlotFinder(false);
    const slots = finder.collectAll(this._doc, fields);
    const saved = await encryptSlots(envelope, slots, contextsOf(model));
    saving.set(this, [...(saving.get(this) ?? []), ...saved]);
  };
  hooks.pre(
    'validate',
    builtIn(function (this: DocumentLike) {
      const refused = refusalIn(this);
      if (refused !== undefined) throw refused;
    }),
  );
  hooks.pre('save', builtIn(encryptDocument));
  hooks.post(
    'save',
    builtIn(function (this: DocumentLike) {
      putBack(this);
    }),
  );
  hooks.post(
    'save',
    builtIn(function (
      this: DocumentLike,
      error: unknown,
      _doc: unknown,
      next: (error?: unknown) => void,
    ) {
      putBack(this);
      next(error);
    }),
  );

  // Model middleware: insertMany and bulkWrite. The entries of the array passed are replaced by
  // encrypted copies (the caller's objects themselves are not changed).
  const encryptInserts = async function (this: ModelLike, first: unknown, second: unknown) {
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
    rememberInserted(await encryptSlots(envelope, slots, contextOf));
  };
  hooks.pre('insertMany', builtIn(encryptInserts));
  // the returned documents get the plaintext of the tokens just written back (insert-plaintexts.ts)
  hooks.post(
    'insertMany',
    builtIn(async function (this: ModelLike, docs: unknown) {
      if (Array.isArray(docs)) {
        await decryptResults(config, docs, contextsOf(this), insertedPlaintexts());
      }
    }),
  );
  const encryptOperations = async function (this: ModelLike, first: unknown, second: unknown) {
    const operations = argument(first, second);
    if (!Array.isArray(operations)) return;
    const contextOf = contextsOf(this);
    for (let i = 0; i < operations.length; i++) {
      operations[i] = await encryptOperation(config, operations[i], contextOf);
    }
  };
  hooks.pre('bulkWrite', builtIn(encryptOperations));

  // Queries: filters and sorts are checked; updates and replacements are encrypted copies.
  const prepareQuery = async function (this: QueryLike) {
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
  };
  hooks.pre(FILTERED, QUERY, builtIn(prepareQuery));
  const decryptQueryResult = async function (this: QueryLike, result: unknown) {
    const options = this.getOptions();
    const wrapped =
      (options.includeResultMetadata === true || options.rawResult === true) &&
      isObject(result) &&
      'value' in result;
    await decryptResults(config, wrapped ? result.value : result, contextsOf(this.model));
  };
  hooks.post(RETURNING, QUERY, builtIn(decryptQueryResult));

  // Aggregations: no stage may read an encrypted path; with $merge / $out, none may write one.
  hooks.pre(
    'aggregate',
    builtIn(function (this: AggregateLike) {
      const pipeline = this.pipeline();
      checkPipeline(pipeline, fields, 'an aggregation stage');
      checkPipelineOutput(pipeline, fields);
    }),
  );

  // Below the middleware: the collection guard and the connection-level bulkWrite wrapper,
  // installed when a model is compiled from this schema (model-guard.ts).
  hooks.on('init', (model) => {
    guardModel(model, fields);
    scopeInsertMany(model);
  });
}
