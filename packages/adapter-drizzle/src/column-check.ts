/** The setup check that every encrypted column is wide enough for the ciphertext it will hold. */
import { CmekConfigError, maxPlaintextBytesOption, measureTokenLength } from '@cmek/core';
import type { CmekConfig } from './options';

export interface CheckColumnsOptions {
  /**
   * The longest plaintext, in UTF-8 bytes, a column must hold, for the columns configured without
   * a `maxPlaintextBytes` of their own. Default: the column's declared length (a `varchar(255)`
   * that held 255-byte plaintexts must now hold their ciphertext).
   */
  readonly maxPlaintextBytes?: number;
}

export interface ColumnWidth {
  /** `<table>.<column>`, the database names. */
  readonly column: string;
  /** The declared length (`varchar(n)`, `char(n)`, `text({ length })`); undefined for `text`. */
  readonly declared: number | undefined;
  /** The length a ciphertext of the longest plaintext takes with this envelope's KEK. */
  readonly needed: number;
  readonly ok: boolean;
}

/** The length the schema declares for a column, if any. */
export function declaredLength(column: {
  getSQLType(): string;
  length?: unknown;
}): number | undefined {
  if (typeof column.length === 'number' && column.length > 0) return column.length;
  const match = /char\s*\(\s*(\d+)\s*\)/i.exec(column.getSQLType());
  return match ? Number(match[1]) : undefined;
}

/**
 * Measures each encrypted column of the schema (no database round trip: Drizzle's table
 * definitions declare the lengths) against the token of its longest plaintext; throws
 * `CmekConfigError` naming each column that is too short, with the length it needs.
 */
export async function checkColumns(
  config: CmekConfig,
  options: CheckColumnsOptions = {},
): Promise<ColumnWidth[]> {
  const callDefault = maxPlaintextBytesOption(
    options.maxPlaintextBytes,
    'checkColumns: maxPlaintextBytes',
  );
  const out: ColumnWidth[] = [];
  for (const field of config.fields.values()) {
    const declared = declaredLength(field.column as never);
    const bytes = field.maxPlaintextBytes ?? callDefault ?? declared ?? 0;
    const needed = await measureTokenLength(config.envelope, bytes);
    out.push({
      column: field.label,
      declared,
      needed,
      ok: declared === undefined || declared >= needed,
    });
  }
  const short = out.filter((c) => !c.ok);
  if (short.length > 0) {
    throw new CmekConfigError(
      `encrypted columns too short for their ciphertext: ${short
        .map((c) => `${c.column} holds ${c.declared} characters, needs at least ${c.needed}`)
        .join('; ')}; widen them (or use text)`,
    );
  }
  return out;
}
