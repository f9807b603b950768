/** Field counters of a write run: creating, adding, validating options. */
import { CmekConfigError } from '../errors';
import type { WriteFieldReport } from './reports';

export function emptyFieldReport(): WriteFieldReport {
  return {
    candidates: 0,
    written: 0,
    skipped: 0,
    nulls: 0,
    plaintext: 0,
    conflicts: 0,
    conflictsRemaining: 0,
    failed: {},
  };
}

/** Empty counts of each field; the fields in `indexed` also count their blind-index writes. */
export function emptyReports(
  fields: readonly string[],
  indexed: ReadonlySet<string> = new Set(),
): Record<string, WriteFieldReport> {
  return Object.fromEntries(
    fields.map((f) => [
      f,
      indexed.has(f)
        ? { ...emptyFieldReport(), indexes: { candidates: 0, written: 0 } }
        : emptyFieldReport(),
    ]),
  );
}

/** Adds `from` into `into` (every counter, and the failures code by code). */
export function addReports(
  into: Record<string, WriteFieldReport>,
  from: Readonly<Record<string, WriteFieldReport>>,
): void {
  for (const [field, add] of Object.entries(from)) {
    const target = into[field] ?? emptyFieldReport();
    into[field] = target;
    target.candidates += add.candidates;
    target.written += add.written;
    target.skipped += add.skipped;
    target.nulls += add.nulls;
    target.plaintext += add.plaintext;
    target.conflicts += add.conflicts;
    target.conflictsRemaining += add.conflictsRemaining;
    for (const [code, n] of Object.entries(add.failed)) {
      target.failed[code] = (target.failed[code] ?? 0) + n;
    }
    if (add.indexes !== undefined) {
      target.indexes ??= { candidates: 0, written: 0 };
      target.indexes.candidates += add.indexes.candidates;
      target.indexes.written += add.indexes.written;
    }
  }
}

export function countFailure(report: WriteFieldReport, code: string): void {
  report.failed[code] = (report.failed[code] ?? 0) + 1;
}

export function positiveInteger(value: unknown, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new CmekConfigError(`${name} must be a positive integer`);
  }
  return value;
}

export function nonNegativeInteger(value: unknown, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new CmekConfigError(`${name} must be an integer of 0 or more`);
  }
  return value;
}
