/** The total of the progress events: the store's optional row count, asked once per run. */
import type { RowStore } from '../row-store';
import { scanOptionsOf } from './tenants';

/**
 * `store.count()` when the store has it and someone listens to the progress; `undefined`
 * otherwise. A count that fails, or is not a non-negative integer, gives no total: progress is a
 * courtesy, and a database that is down is reported by the scan that follows.
 */
export async function totalOf(
  store: RowStore,
  listening: boolean,
  tenant?: string,
): Promise<number | undefined> {
  if (!listening || typeof store.count !== 'function') return undefined;
  try {
    const n = await store.count(...scanOptionsOf(tenant));
    return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
  } catch {
    return undefined;
  }
}
