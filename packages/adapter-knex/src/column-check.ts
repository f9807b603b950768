/**
 * The setup check that every encrypted column is wide enough for the ciphertext it will hold, and
 * that every blind-index column exists and can hold `BLIND_INDEX_MAX_LENGTH` characters.
 */
import {
  BLIND_INDEX_MAX_LENGTH,
  CmekConfigError,
  type EncryptionContext,
  type Envelope,
  isTenantEnvelope,
  maxPlaintextBytesOption,
  measureTokenLength,
  warnDeprecatedOption,
} from '@cmek/core';
import type { Knex } from 'knex';
import type { TableConfigs } from './options';

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
  /** @deprecated Use `maxPlaintextBytes`, the same option. */
  readonly plaintextBytes?: number;
}

export interface ColumnWidth {
  readonly table: string;
  /**
   * The column as the table declares it (as Knex returns it: through a `postProcessResponse`,
   * if the instance has one). Identifiers are matched case-insensitively, so on PostgreSQL a
   * configured `token` checks both `token` and a `"Token"` beside it, and through the identifier
   * mapping, so `access_token` is found as `accessToken` and the other way round.
   */
  readonly column: string;
  /** The declared length; undefined for unbounded types (text). */
  readonly declared: number | undefined;
  /**
   * The length a ciphertext of the longest plaintext takes with this envelope's KEK; for a
   * blind-index column, `BLIND_INDEX_MAX_LENGTH`.
   */
  readonly needed: number;
  readonly ok: boolean;
}

interface ColumnMeta {
  readonly maxLength?: number | string | null;
  readonly type?: string;
}

/** The declared length of a (var)char column; undefined for other types. */
function declaredLength(meta: ColumnMeta): number | undefined {
  const max =
    meta.maxLength === null || meta.maxLength === undefined ? NaN : Number(meta.maxLength);
  // only (var)char columns are bounded here; text types report no length, or their byte
  // capacity (MySQL TEXT: 65535), which is not what the column was sized for
  return /char/i.test(meta.type ?? '') && Number.isFinite(max) && max > 0 ? max : undefined;
}

async function widthOf(
  envelope: Envelope,
  table: string,
  column: string,
  meta: ColumnMeta,
  longest: number | undefined,
  context: EncryptionContext | undefined,
): Promise<ColumnWidth> {
  const declared = declaredLength(meta);
  const bytes = longest ?? declared ?? 0;
  const needed = await measureTokenLength(envelope, bytes, context);
  return { table, column, declared, needed, ok: declared === undefined || declared >= needed };
}

export async function checkColumns(
  knex: Knex,
  envelope: Envelope,
  tables: TableConfigs,
  options: CheckColumnsOptions = {},
): Promise<ColumnWidth[]> {
  if (options.plaintextBytes !== undefined) {
    if (options.maxPlaintextBytes !== undefined) {
      throw new CmekConfigError(
        'checkColumns: give maxPlaintextBytes or the deprecated plaintextBytes, not both',
      );
    }
    warnDeprecatedOption(
      'CMEK_DEP_KNEX_PLAINTEXT_BYTES',
      '@cmek/adapter-knex: checkColumns({ plaintextBytes }) is deprecated; use { maxPlaintextBytes }',
    );
  }
  const callDefault = maxPlaintextBytesOption(
    options.maxPlaintextBytes ?? options.plaintextBytes,
    'checkColumns: maxPlaintextBytes',
  );
  const context = measuringContext(envelope, options.tenant);
  const out: ColumnWidth[] = [];
  for (const table of tables.list) {
    const info = (await knex(table.name).columnInfo()) as unknown as Record<string, ColumnMeta>;
    for (const configured of table.columns) {
      // every declared column the adapter treats as this one (a spelling in common)
      const declared = Object.keys(info).filter((c) => table.identifiers.same(c, configured));
      if (declared.length === 0) {
        throw new CmekConfigError(
          `${table.name}.${configured} is configured but the table has no such column`,
        );
      }
      const longest = table.maxPlaintextBytes.get(configured) ?? callDefault;
      for (const column of declared) {
        out.push(await widthOf(envelope, table.name, column, info[column]!, longest, context));
      }
      for (const { column: index } of table.indexes.get(configured) ?? []) {
        const columns = Object.keys(info).filter((c) => table.identifiers.same(c, index));
        if (columns.length === 0) {
          throw new CmekConfigError(
            `${table.name}.${configured}.blindIndex names the column '${index}', which ${table.name} has not: add it (varchar(${BLIND_INDEX_MAX_LENGTH}) or longer, with a unique index if the values are unique)`,
          );
        }
        for (const column of columns) {
          const length = declaredLength(info[column]!);
          out.push({
            table: table.name,
            column,
            declared: length,
            needed: BLIND_INDEX_MAX_LENGTH,
            ok: length === undefined || length >= BLIND_INDEX_MAX_LENGTH,
          });
        }
      }
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

/** The context to measure under: a tenant envelope's values need a tenant in their context. */
function measuringContext(envelope: Envelope, tenant: unknown): EncryptionContext | undefined {
  if (!isTenantEnvelope(envelope)) return undefined;
  if (typeof tenant !== 'string' || tenant.length === 0) {
    throw new CmekConfigError(
      'checkColumns with a tenant envelope needs { tenant }: the tenant whose KEK the tokens are measured under',
    );
  }
  return { [envelope.tenantKey]: tenant };
}
