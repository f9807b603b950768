/**
 * `cmekPlugin`: the Mongoose middleware that encrypts on every write and decrypts on reads. It
 * validates the options, then registers the hooks of each path, one file per path: documents
 * (save.ts), `insertMany` (insert-many.ts), `bulkWrite` (bulk-write.ts), queries (query.ts) and
 * aggregations (aggregate.ts). Every hook is marked built-in (hooks.ts), so Mongoose 9's
 * `{ middleware: false }` does not skip it. Below the middleware, when a model is compiled: the
 * collection guard and the `connection.bulkWrite` wrapper (model-guard.ts).
 */
import type { Schema } from 'mongoose';
import { registerAggregateHooks } from './aggregate';
import { registerBulkWriteHooks } from './bulk-write';
import type { HookSchema } from './hooks';
import { registerInsertManyHooks, scopeInsertMany } from './insert-many';
import { guardModel } from './model-guard';
import { refuseNonStrings } from './non-strings';
import { type CmekPluginOptions, normaliseOptions, rememberConfig } from './options';
import { resolvePath, type SchemaView } from './paths';
import { registerQueryHooks } from './query';
import { registerSaveHooks } from './save';

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
  // Non-strings are refused before Mongoose's cast could put them in a CastError (non-strings.ts).
  for (const field of config.fields) {
    const { leaf } = resolvePath(schema as unknown as SchemaView, field.segments, field.path);
    if (leaf !== undefined) refuseNonStrings(leaf, field);
  }

  registerSaveHooks(hooks, config);
  registerInsertManyHooks(hooks, config);
  registerBulkWriteHooks(hooks, config);
  registerQueryHooks(hooks, config);
  registerAggregateHooks(hooks, config);

  hooks.on('init', (model) => {
    guardModel(model, [...config.fields, ...config.indexPaths]);
    scopeInsertMany(model);
  });
}
