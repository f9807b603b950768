/**
 * What every write and read path registers its middleware with: the schema's hook methods, the
 * built-in mark, and Mongoose 8's calling convention.
 */

type Middleware = (this: never, ...args: never[]) => unknown;

/**
 * The hook registration of a schema, typed loosely on purpose: Mongoose's own overloads differ
 * between 8 and 9, and the hooks accept both calling conventions (`hookArgument`).
 */
export interface HookSchema {
  pre(names: string | string[], options: object, fn: Middleware): unknown;
  pre(names: string | string[], fn: Middleware): unknown;
  post(names: string | string[], options: object, fn: Middleware): unknown;
  post(names: string | string[], fn: Middleware): unknown;
  /** Mongoose emits `init` with the model when a model is compiled from the schema (or a clone). */
  on(event: 'init', listener: (model: unknown) => void): unknown;
}

/**
 * Mongoose 9's `{ middleware: false }` (or `middleware: { pre: false }`) skips every hook of a
 * call except Mongoose's own built-in ones (timestamps, subdocument saves, sharding), which it
 * marks with this registry symbol (`lib/schema/symbols.js`; `Symbol.for`, so the same in every
 * copy of Mongoose). Encryption is not optional, so the plugin's hooks carry the mark too and run
 * whatever the option says; should a future Mongoose drop the mark, the collection guard still
 * refuses what the skipped hooks would have encrypted. Mongoose 8 has no such option.
 *
 * The mark has one other effect in both majors: a schema method that overrides a document
 * method of the same name (`schema.methods.save`, which Mongoose warns about) drops the built-in
 * hooks of that name; the guard covers that case too.
 */
const BUILT_IN = Symbol.for('mongoose:built-in-middleware');

/** Marks a hook as built-in (see above): every hook of the plugin is registered through this. */
export function builtIn<T extends object>(hook: T): T {
  Object.defineProperty(hook, BUILT_IN, { value: true });
  return hook;
}

/**
 * The argument of a model middleware (`insertMany`'s documents, `bulkWrite`'s operations):
 * Mongoose 8 passes `next` first to middleware that declares parameters; Mongoose 9 does not.
 */
export function hookArgument(first: unknown, second: unknown): unknown {
  return typeof first === 'function' ? second : first;
}
