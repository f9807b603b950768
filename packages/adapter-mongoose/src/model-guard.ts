/**
 * What the plugin installs below the middleware when a model with it is compiled (the schema's
 * `init` event, which Mongoose emits for `mongoose.model`, `connection.model`, `useDb` models
 * and models of cloned schemas): the collection guard, the connection-level `bulkWrite`
 * wrapper, and the same again after `Model.useConnection(connection)`.
 */
import { guardCollection } from './collection-guard';
import { wrapConnectionBulkWrite } from './connection-bulk-write';
import type { FieldPath } from './paths';

const FOLLOWS = Symbol.for('cmek.adapter-mongoose.use-connection');

interface ModelView {
  readonly collection?: unknown;
  readonly db?: unknown;
  useConnection?: unknown;
}

type Method = (this: ModelView, ...args: unknown[]) => unknown;

/** `Model.useConnection(connection)` gives the model a new collection object: guard it too. */
function followConnectionSwitch(model: ModelView, fields: readonly FieldPath[]): void {
  const original = model.useConnection;
  if (typeof original !== 'function' || FOLLOWS in original) return;
  const call = original as Method;
  const useConnection: Method = function (this: ModelView, ...args: unknown[]) {
    const result = call.apply(this, args);
    guardModel(this, fields);
    return result;
  };
  Object.defineProperty(useConnection, FOLLOWS, { value: true });
  Object.defineProperty(model, 'useConnection', {
    value: useConnection,
    configurable: true,
    enumerable: false,
    writable: true,
  });
}

export function guardModel(model: unknown, fields: readonly FieldPath[]): void {
  if (typeof model !== 'function') return;
  const view = model as ModelView;
  guardCollection(view.collection, fields);
  wrapConnectionBulkWrite(view.db);
  followConnectionSwitch(view, fields);
}
