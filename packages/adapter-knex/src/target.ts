/**
 * An encrypted column as a query names it: its table's configuration and its configured name.
 * How errors name it, and the cells core's `sealCells` / `openCells` take for its values.
 */
import type { FieldCells } from '@cmek/core';
import type { TableConfig } from './options';

export interface ColumnTarget {
  readonly table: TableConfig;
  /** The encrypted column as configured (its context and its name in errors). */
  readonly column: string;
}

/** `table.column`, as errors name an encrypted column. */
export function columnLabel(target: ColumnTarget): string {
  return `${target.table.name}.${target.column}`;
}

/** Whether two targets are the same encrypted column. */
export function sameTarget(a: ColumnTarget, b: ColumnTarget): boolean {
  return a.table === b.table && a.column === b.column;
}

/** The values of one encrypted column as core's cells: its label and its context. */
export function cellsOf<V>(target: ColumnTarget, values: readonly V[]): FieldCells<V> {
  return {
    label: columnLabel(target),
    context: target.table.contexts.get(target.column)!,
    values,
  };
}
