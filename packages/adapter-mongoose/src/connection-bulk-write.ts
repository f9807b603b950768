/**
 * `connection.bulkWrite([{ model, name: 'insertOne', document }, …])`: Mongoose's bulk write
 * across models (MongoDB 8.0's client bulk write) casts each operation with its model but runs
 * no model middleware, and sends through the client, not through the model's collection, so
 * neither the middleware nor the collection guard sees it. The plugin therefore wraps
 * `bulkWrite` of Mongoose's connection class, once per copy of Mongoose (when the first model
 * with the plugin is compiled): each operation of a model with the plugin is replaced by an
 * encrypted copy (as `Model.bulkWrite` does; filters and sorts are checked), an operation of a
 * model without it on a guarded collection is checked like the guard does, and the others are
 * passed on unchanged (the array passed is never changed).
 */
import { encryptOperation } from './bulk-write';
import { guardedFields } from './collection-guard';
import { checkBulkOperations } from './guard-checks';
import { isObject } from './objects';
import { configOfSchema, type ModelLike, tenantContextsOf } from './options';
import type { Holder } from './slots';

const WRAPPED = Symbol.for('cmek.adapter-mongoose.connection-bulk-write');

interface ConnectionLike {
  model(name: string): unknown;
}

interface ModelView extends ModelLike {
  readonly schema?: unknown;
  readonly collection?: unknown;
}

type Method = (this: ConnectionLike, ...args: unknown[]) => Promise<unknown>;

function modelOf(connection: ConnectionLike, ref: unknown): ModelView | undefined {
  if (typeof ref === 'function') return ref as ModelView;
  if (typeof ref !== 'string') return undefined;
  try {
    const model = connection.model(ref);
    return typeof model === 'function' ? (model as ModelView) : undefined;
  } catch {
    return undefined; // Mongoose reports the unknown model itself
  }
}

/** One client bulk write operation (`{ model, name, document | filter, update | replacement }`). */
async function prepare(connection: ConnectionLike, operation: unknown): Promise<unknown> {
  if (!isObject(operation) || typeof operation.name !== 'string') return operation;
  const model = modelOf(connection, operation.model);
  if (model === undefined) return operation;
  const { model: _model, name, ...spec } = operation;
  const config = configOfSchema(model.schema);
  if (config === undefined) {
    const fields = guardedFields(model.collection);
    const collection = String((model.collection as { name?: unknown } | undefined)?.name ?? '?');
    if (fields !== undefined) checkBulkOperations([{ [name]: spec }], fields, collection);
    return operation;
  }
  const encrypted = (await encryptOperation(
    config,
    { [name]: spec },
    tenantContextsOf(config, model),
  )) as Holder;
  return { ...operation, ...(encrypted[name] as Holder) };
}

/** Wraps `bulkWrite` where the connection's class defines it (a no-op once done). */
export function wrapConnectionBulkWrite(connection: unknown): void {
  let owner: object | null =
    typeof connection === 'object' && connection !== null ? connection : null;
  while (owner !== null && !Object.hasOwn(owner, 'bulkWrite')) owner = Object.getPrototypeOf(owner);
  if (owner === null) return;
  const descriptor = Object.getOwnPropertyDescriptor(owner, 'bulkWrite');
  const original: unknown = descriptor?.value;
  if (typeof original !== 'function' || WRAPPED in original) return;
  const call = original as Method;
  const bulkWrite: Method = async function (this: ConnectionLike, operations, ...rest) {
    if (!Array.isArray(operations)) return call.call(this, operations, ...rest);
    const prepared = await Promise.all(operations.map((operation) => prepare(this, operation)));
    const changed = prepared.some((operation, i) => operation !== operations[i]);
    return call.call(this, changed ? prepared : operations, ...rest);
  };
  Object.defineProperty(bulkWrite, WRAPPED, { value: true });
  Object.defineProperty(owner, 'bulkWrite', { ...descriptor, value: bulkWrite });
}
