/** The setup check that every encrypted column is wide enough for the ciphertext it will hold. */
import {
  CmekConfigError,
  type EncryptionContext,
  maxPlaintextBytesOption,
  measureTokenLength,
} from '@cmek/core';
import type { CmekConfig } from './options';

export interface CheckColumnsOptions {
  /**
   * The longest plaintext, in UTF-8 bytes, a column must hold, for the columns configured without
   * a `maxPlaintextBytes` of their own. Default: the column's declared length (a `varchar(255)`
   * that held 255-byte plaintexts must now hold their ciphertext).
   */
  readonly maxPlaintextBytes?: number;
  /**
   * With a tenant envelope: the tenant whose KEK the tokens are measured under (its key
   * reference is part of each token, so lengths differ between tenants' KEKs). Required then.
   */
  readonly tenant?: string;
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
  const context = measuringContext(config, options.tenant);
  const out: ColumnWidth[] = [];
  for (const field of config.fields.values()) {
    const declared = declaredLength(field.column as never);
    const bytes = field.maxPlaintextBytes ?? callDefault ?? declared ?? 0;
    const needed = await measureTokenLength(config.envelope, bytes, context);
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

/** The context to measure under: a tenant envelope's values need a tenant in their context. */
function measuringContext(config: CmekConfig, tenant: unknown): EncryptionContext | undefined {
  const { tenantKey } = config;
  if (tenantKey === undefined) return undefined;
  if (typeof tenant !== 'string' || tenant.length === 0) {
    throw new CmekConfigError(
      'checkColumns with a tenant envelope needs { tenant }: the tenant whose KEK the tokens are measured under',
    );
  }
  return { [tenantKey]: tenant };
}
