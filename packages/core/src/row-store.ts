/** The storage contract the backfill / rewrap / verify engine drives; each adapter implements it. */
import type { BlindIndexOptions } from './blind-index-cells';

/** A primary-key value, JSON-serialisable so that a checkpoint can hold it. */
export type Cursor = string | number;

export interface Row {
  readonly id: Cursor;
  /** The stored (raw) value of each of the store's fields: plaintext, a token, or null. */
  readonly values: Readonly<Record<string, string | null>>;
  /**
   * The stored values of the blind-index columns, by column name: only from a store that declares
   * `blindIndexes` (a missing column reads as `null`).
   */
  readonly indexes?: IndexValues;
  /**
   * The row's tenant id (the value of the store's `tenantColumn`): only from a store that declares
   * one; `null` for a row without a tenant.
   */
  readonly tenant?: string | null;
}

/** What a scan (or a count) is limited to. */
export interface ScanOptions {
  /**
   * Only the rows of this tenant (`WHERE <tenantColumn> = tenant`): the engine passes it only to
   * a store that declares `tenantColumn`, for a run scoped to one tenant (`rotate --tenant X`).
   */
  readonly tenant?: string;
}

/** Blind-index column values, by column name (`null`: SQL NULL / absent). */
export type IndexValues = Readonly<Record<string, string | null>>;

export interface RowStore {
  /** A name unique among the stores of one configuration, e.g. `users` or `Integration`. */
  readonly name: string;
  /** The encrypted fields of the store. */
  readonly fields: readonly string[];
  /**
   * The encryption context the adapter uses for a field (must match the adapter's reads). A store
   * with a `tenantColumn` is given the row's tenant id (`Row.tenant`; `undefined` for a row without
   * one, or when the engine asks for the field's label) and puts it in the context under the key
   * its tenant envelope reads (`TenantEnvelope.tenantKey`), as the adapter does on its own writes.
   */
  contextFor(field: string, tenant?: string): Record<string, string>;
  /**
   * Up to `limit` rows with a primary key greater than `after`, ordered by primary key; with
   * `options.tenant` (a store with `tenantColumn` only), only that tenant's rows.
   */
  scan(after: Cursor | undefined, limit: number, options?: ScanOptions): Promise<Row[]>;
  /**
   * Optional: the column holding each row's tenant id, for a store whose fields are encrypted
   * through a tenant envelope (`createTenantEnvelope`). A store that declares it returns each
   * row's tenant in `Row.tenant`, filters `scan` (and `count`) by `options.tenant`, and takes the
   * tenant in `contextFor`. The engine refuses a tenant-scoped run (`{ tenant }`) on a store
   * without it, and ends the run if a scan returns a row of another tenant.
   */
  readonly tenantColumn?: string;
  /**
   * Optional: the blind-index columns of each field that has any (`blindIndexesOption` of the
   * field's `blindIndex` option), the first being the one lookups use. A store that declares them
   * returns the columns' values in `Row.indexes`, and writes the `indexes` of a compare-and-set in
   * the same statement as the value (the expected value is still the only guard). A
   * compare-and-set without `indexes` (a rewrap) leaves the index columns as they are.
   */
  readonly blindIndexes?: Readonly<Record<string, readonly BlindIndexOptions[]>>;
  /**
   * Writes `next` to the field only if it still holds `expected`; `false` when the row changed
   * meanwhile (or is gone), in which case nothing is written. `indexes` (only for a store that
   * declares `blindIndexes`) are written with it, in the same guarded statement.
   */
  compareAndSet(
    id: Cursor,
    field: string,
    expected: string,
    next: string,
    indexes?: IndexValues,
  ): Promise<boolean>;
  /**
   * Optional: several compare-and-sets in one round trip (one statement or one transaction);
   * `result[i]` is what `compareAndSet` would have returned for `writes[i]`. The engine uses it
   * when present (a batch costs one call per field instead of one per value).
   */
  compareAndSetMany?(writes: readonly CasWrite[]): Promise<boolean[]>;
  /**
   * Optional: the number of rows `scan` will go through (an estimate is acceptable). It should be
   * cheap (a `SELECT count(*)`, a `countDocuments`); the engine asks it once, at the start of a
   * run that has an `onProgress` listener, for the `total` of its progress events (so a consumer
   * can show a percentage and an ETA). A store without it works as before, with no `total`.
   */
  count?(options?: ScanOptions): Promise<number>;
}

/** A `RowStore` whose `count` is there (every adapter's row store). */
export interface RowCounter {
  count(): Promise<number>;
}

/** One write of `compareAndSetMany`. */
export interface CasWrite {
  readonly id: Cursor;
  readonly field: string;
  readonly expected: string;
  readonly next: string;
  /** Blind-index values written with the value (only to a store that declares `blindIndexes`). */
  readonly indexes?: IndexValues;
}
