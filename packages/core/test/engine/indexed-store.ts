/**
 * A `MemoryStore` with blind-index columns: they live in the same row map as the fields (under
 * their column names); `scan` returns them in `Row.indexes`; a compare-and-set writes them with
 * the value, guarded by the expected value only. `many` adds `compareAndSetMany`.
 */
import type { BlindIndexOptions, CasWrite, Cursor, IndexValues, Row } from '../../src/index';
import { MemoryStore } from './support';

export class IndexedMemoryStore extends MemoryStore {
  /** Every `indexes` argument the store received, in order. */
  readonly indexWrites: IndexValues[] = [];
  manyCalls = 0;
  compareAndSetMany?: (writes: readonly CasWrite[]) => Promise<boolean[]>;

  constructor(
    name: string,
    fields: readonly string[],
    readonly blindIndexes: Readonly<Record<string, readonly BlindIndexOptions[]>>,
    many = false,
  ) {
    super(name, fields);
    if (many) {
      this.compareAndSetMany = async (writes) => {
        this.manyCalls++;
        const out: boolean[] = [];
        for (const w of writes)
          out.push(await this.compareAndSet(w.id, w.field, w.expected, w.next, w.indexes));
        return out;
      };
    }
  }

  private get columns(): string[] {
    return Object.values(this.blindIndexes).flatMap((specs) => specs.map((s) => s.column));
  }

  override async scan(after: Cursor | undefined, limit: number): Promise<Row[]> {
    const rows = await super.scan(after, limit);
    return rows.map((row) => {
      const values = Object.fromEntries(this.fields.map((f) => [f, row.values[f] ?? null]));
      const indexes = Object.fromEntries(this.columns.map((c) => [c, row.values[c] ?? null]));
      return { id: row.id, values, indexes };
    });
  }

  override async compareAndSet(
    id: Cursor,
    field: string,
    expected: string,
    next: string,
    indexes?: IndexValues,
  ): Promise<boolean> {
    const ok = await super.compareAndSet(id, field, expected, next);
    if (indexes !== undefined) {
      this.indexWrites.push(indexes);
      if (ok) Object.assign(this.rows.get(Number(id))!, indexes);
    }
    return ok;
  }
}
