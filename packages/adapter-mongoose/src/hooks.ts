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

export function builtIn<T extends object>(hook: T): T {
  Object.defineProperty(hook, BUILT_IN, { value: true });
  return hook;
}
