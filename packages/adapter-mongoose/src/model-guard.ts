/**
 * What the plugin installs below the middleware when a model with it is compiled (the schema's
 * `init` event, which Mongoose emits for `mongoose.model`, `connection.model`, `useDb` models
 * and models of cloned schemas): the collection guard, the connection-level `bulkWrite`
 * wrapper, and the same again after `Model.useConnection(connection)`.
 */
import { guardCollection } from './collection-guard';
import { wrapConnectionBulkWrite } from './connection-bulk-write';
import { wrapMethodOnce } from './objects';
import type { FieldPath } from './paths';

const FOLLOWS = Symbol.for('cmek.adapter-mongoose.use-connection');

interface ModelView {
  readonly collection?: unknown;
  readonly db?: unknown;
  useConnection?: unknown;
}

/** `Model.useConnection(connection)` gives the model a new collection object: guard it too. */
function followConnectionSwitch(model: ModelView, fields: readonly FieldPath[]): void {
  wrapMethodOnce(
    model,
    'useConnection',
    FOLLOWS,
    (call) =>
      function (this: unknown, ...args: unknown[]) {
        const result = call.apply(this, args);
        guardModel(this, fields);
        return result;
      },
  );
}

export function guardModel(model: unknown, fields: readonly FieldPath[]): void {
  if (typeof model !== 'function') return;
  const view = model as ModelView;
  guardCollection(view.collection, fields);
  wrapConnectionBulkWrite(view.db);
  followConnectionSwitch(view, fields);
}
