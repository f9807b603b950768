/**
 * Wraps the configured stores so that an error a write throws carries, for the redactor, the
 * values that write was given: a driver that quotes them in its message (in a form `redact` does
 * not recognise) still has them removed before anything is printed.
 */
import type { CasWrite, RowStore } from '@cmek/core';
import { rememberValues } from './redact';

function withValues(error: unknown, values: readonly string[]): unknown {
  const target = typeof error === 'object' && error !== null ? error : new Error(String(error));
  rememberValues(target, values);
  return target;
}

export function guardStore(store: RowStore): RowStore {
  const many = store.compareAndSetMany;
  const count = store.count;
  return {
    name: store.name,
    fields: store.fields,
    // A tenant (and the scan options) only when the engine gives one: a store without a tenant
    // column is called exactly as before.
    contextFor: (field, tenant) =>
      tenant === undefined ? store.contextFor(field) : store.contextFor(field, tenant),
    scan: (after, limit, options) =>
      options === undefined ? store.scan(after, limit) : store.scan(after, limit, options),
    ...(store.tenantColumn === undefined ? {} : { tenantColumn: store.tenantColumn }),
    // The index columns the engine backfills and verifies, when the store has any.
    ...(store.blindIndexes === undefined ? {} : { blindIndexes: store.blindIndexes }),
    // The row count of the progress total, when the store has one.
    ...(typeof count === 'function'
      ? {
          count: (options) =>
            options === undefined ? count.call(store) : count.call(store, options),
        }
      : {}),
    async compareAndSet(id, field, expected, next, indexes) {
      try {
        return await (indexes === undefined
          ? store.compareAndSet(id, field, expected, next)
          : store.compareAndSet(id, field, expected, next, indexes));
      } catch (error) {
        throw withValues(error, [expected, next]);
      }
    },
    ...(many === undefined
      ? {}
      : {
          async compareAndSetMany(writes: readonly CasWrite[]) {
            try {
              return await many.call(store, writes);
            } catch (error) {
              throw withValues(
                error,
                writes.flatMap((w) => [w.expected, w.next]),
              );
            }
          },
        }),
  };
}
