/** The setup check that every encrypted column is wide enough for the ciphertext it will hold. */
import { CmekConfigError, type Envelope } from '@cmek/core';
import type { Knex } from 'knex';
import type { TableConfigs } from './options';

export interface CheckColumnsOptions {
  /**
   * The longest plaintext, in bytes, a column must hold. Default: the column's declared length
   * (a `varchar(255)` that held 255-byte plaintexts must now hold their ciphertext).
   */
  readonly plaintextBytes?: number;
}

export interface ColumnWidth {
  readonly table: string;
  readonly column: string;
  /** The declared length; undefined for unbounded types (text). */
  readonly declared: number | undefined;
  /** The length a ciphertext of the longest plaintext takes with this envelope's KEK. */
  readonly needed: number;
  readonly ok: boolean;
}

/** Token length for a plaintext of `bytes` bytes, measured on a real token of the envelope. */
async function tokenLength(envelope: Envelope, bytes: number, cache: Map<number, number>) {
  let length = cache.get(bytes);
  if (length === undefined) {
    length = (await envelope.encrypt(new Uint8Array(bytes))).length;
    cache.set(bytes, length);
  }
  return length;
}

export async function checkColumns(
  knex: Knex,
  envelope: Envelope,
  tables: TableConfigs,
  options: CheckColumnsOptions = {},
): Promise<ColumnWidth[]> {
  const out: ColumnWidth[] = [];
  const lengths = new Map<number, number>();
  for (const table of tables.values()) {
    const info = (await knex(table.name).columnInfo()) as unknown as Record<
      string,
      { maxLength?: number | string | null; type?: string }
    >;
    for (const column of table.columns) {
      const meta = info[column];
      if (!meta) {
        throw new CmekConfigError(
          `${table.name}.${column} is configured but the table has no such column`,
        );
      }
      const max =
        meta.maxLength === null || meta.maxLength === undefined ? NaN : Number(meta.maxLength);
      // only (var)char columns are bounded here; text types report no length, or their byte
      // capacity (MySQL TEXT: 65535), which is not what the column was sized for
      const bounded = /char/i.test(meta.type ?? '') && Number.isFinite(max) && max > 0;
      const declared = bounded ? max : undefined;
      const bytes = options.plaintextBytes ?? declared ?? 0;
      const needed = await tokenLength(envelope, bytes, lengths);
      out.push({
        table: table.name,
        column,
        declared,
        needed,
        ok: declared === undefined || declared >= needed,
      });
    }
  }
  const short = out.filter((c) => !c.ok);
  if (short.length > 0) {
    throw new CmekConfigError(
      `encrypted columns too short for their ciphertext: ${short
        .map(
          (c) =>
            `${c.table}.${c.column} holds ${c.declared} characters, needs at least ${c.needed}`,
        )
        .join('; ')}; widen them (or use text)`,
    );
  }
  return out;
}
