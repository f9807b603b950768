/** The `values` event: one per successful envelope call that handled values (never per value). */
import type { Emit } from './emitter';

/** The non-null values of a call. */
export function countValues(values: readonly unknown[]): number {
  let count = 0;
  for (const value of values) if (value !== null && value !== undefined) count++;
  return count;
}

export function emitValues(
  emit: Emit,
  operation: 'encrypt' | 'decrypt',
  count: number,
  field: string | undefined,
): void {
  if (count === 0) return;
  emit({ type: 'values', operation, count, ...(field === undefined ? {} : { field }) });
}
