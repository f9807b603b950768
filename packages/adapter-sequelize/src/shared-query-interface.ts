/**
 * The shared query interface, `sequelize.getQueryInterface()`: what seeders and data migrations
 * write through (`bulkInsert`, `bulkUpdate`, `insert`, `upsert`), and what every model without
 * encrypted fields uses. Once `encryptFields` has run on a Sequelize instance, its shared query
 * interface routes each intercepted call:
 *
 * - a call that names a model with encrypted fields (`options.model`, the instance's model, the
 *   model argument) goes to that model's own view, exactly as the model's own writes do;
 * - a call on the table of a model with encrypted fields is intercepted by column name, under
 *   the contexts of that model's fields (a column two models encrypt differently is refused):
 *   writes are encrypted, filters and aggregates on encrypted columns refused, and what a
 *   `select` returns decrypted;
 * - any other call goes through unchanged (a read only has its includes guarded and decrypted).
 *
 * The models' own views and the row store call the methods as they were before (`originalsOf`),
 * so nothing is encrypted twice.
 */
import { CmekConfigError } from '@cmek/core';
import { configOf } from './options';
import {
  INTERCEPTED,
  type Intercepted,
  interceptors,
  type Method,
  type Methods,
  modelName,
  plainReads,
  type QueryInterfaceLike,
  type Target,
} from './query-interface';
import { assertNoConflict, type SequelizeLike, tableFieldsOf } from './table-fields';

const originals = new WeakMap<object, Methods>();

function capture(qi: QueryInterfaceLike): Methods {
  const out: Partial<Record<Intercepted, Method>> = {};
  for (const name of INTERCEPTED) {
    const fn = qi[name];
    if (typeof fn !== 'function')
      throw new CmekConfigError(
        `the Sequelize query interface has no ${name}: encryptFields needs Sequelize 6`,
      );
    out[name] = (fn as Method).bind(qi);
  }
  return out as Methods;
}

/** The model a call names, by where each method carries it. */
function modelOf(name: Intercepted, args: readonly unknown[]): unknown {
  const optionsModel = (at: number): unknown =>
    (args[at] as { model?: unknown } | null | undefined)?.model;
  switch (name) {
    case 'insert':
    case 'update':
      return (args[0] as { constructor?: unknown } | null | undefined)?.constructor;
    case 'select':
    case 'increment':
    case 'decrement':
      return args[0];
    case 'rawSelect':
      return args[3];
    case 'bulkDelete':
      return args[3] ?? optionsModel(2);
    case 'bulkInsert':
      return optionsModel(2);
    case 'bulkUpdate':
      return optionsModel(3);
    case 'upsert':
      return optionsModel(4);
  }
}

/** The table a call writes or reads, by where each method carries it. */
function tableOf(name: Intercepted, args: readonly unknown[]): unknown {
  switch (name) {
    case 'insert':
    case 'update':
    case 'select':
    case 'increment':
    case 'decrement':
      return args[1];
    default:
      return args[0];
  }
}

function install(qi: QueryInterfaceLike): Methods {
  const real = capture(qi);
  originals.set(qi, real);
  const sequelize = qi.sequelize as SequelizeLike;
  const plain = plainReads(real);
  const route = async (name: Intercepted, args: unknown[]): Promise<unknown> => {
    const model = modelOf(name, args);
    const config = configOf(model);
    if (config) {
      const view = (config.model as unknown as { queryInterface: Methods }).queryInterface;
      return view[name](...args);
    }
    const fields = tableFieldsOf(sequelize, tableOf(name, args));
    if (fields) {
      const own = modelName(model);
      const target: Target = {
        fields,
        names: () => (own ? [...fields.names, own] : fields.names),
        beforeWrite: (records) => assertNoConflict(fields, records),
        byColumn: true,
      };
      return interceptors(target, real)[name](...args);
    }
    if (name === 'select' || name === 'rawSelect') return plain[name](...args);
    return real[name](...args);
  };
  for (const name of INTERCEPTED) {
    Object.defineProperty(qi, name, {
      configurable: true,
      enumerable: false,
      writable: true,
      value: (...args: unknown[]) => route(name, args),
    });
  }
  return real;
}

/**
 * The methods of `qi` as they were before the adapter intercepted them, intercepting the shared
 * query interface on first use.
 */
export function originalsOf(qi: QueryInterfaceLike): Methods {
  return originals.get(qi) ?? install(qi);
}

/**
 * The methods of `qi` as they were before the adapter, without intercepting anything: what the
 * row store reads and writes the stored values with.
 */
export function unwrappedMethods(qi: QueryInterfaceLike): Methods {
  return originals.get(qi) ?? capture(qi);
}
