/** The setup check that every encrypted column can hold the ciphertext it will receive. */
import {
  CmekConfigError,
  type EncryptionContext,
  type Envelope,
  measureTokenLength,
} from '@cmek/core';

/** What `encryptFields` knows of an attribute's declared type. */
export interface ColumnType {
  readonly key: string;
  readonly length: number | string | undefined;
}

export interface ColumnCheck {
  readonly qualified: string;
  readonly type: ColumnType;
  /** The longest plaintext the column must hold, in UTF-8 bytes; undefined: not checked. */
  readonly maxPlaintextBytes: number | undefined;
}

const MYSQL_TEXT: Record<string, number> = {
  tiny: 255,
  '': 65_535,
  medium: 16_777_215,
  long: 4_294_967_295,
};
const STRING_TYPES = new Set(['STRING', 'CHAR', 'TEXT', 'CITEXT']);

/** The declared form, for messages: `STRING(255)`, `TEXT('medium')`. */
function describe(type: ColumnType): string {
  if (type.length === undefined || type.length === '') return type.key;
  return typeof type.length === 'number'
    ? `${type.key}(${type.length})`
    : `${type.key}('${type.length}')`;
}

/**
 * The characters a column holds (tokens are ASCII, so characters and bytes agree): the declared
 * length of STRING / CHAR; TEXT is unbounded except on MySQL / MariaDB, where it holds 65,535
 * bytes (TINYTEXT 255, MEDIUMTEXT 16 MiB, LONGTEXT 4 GiB).
 */
export function capacityOf(type: ColumnType, dialect: string): number {
  if (type.key === 'STRING' || type.key === 'CHAR')
    return typeof type.length === 'number' ? type.length : 255;
  if (type.key === 'TEXT' && (dialect === 'mysql' || dialect === 'mariadb')) {
    return MYSQL_TEXT[typeof type.length === 'string' ? type.length.toLowerCase() : ''] ?? 65_535;
  }
  return Number.POSITIVE_INFINITY;
}

export function assertStringType(qualified: string, type: ColumnType): void {
  if (!STRING_TYPES.has(type.key)) {
    throw new CmekConfigError(
      `${qualified} is ${type.key}: an encrypted field must be a string column (STRING, CHAR or TEXT), since it stores a cmek:v1: token`,
    );
  }
}

/** The default maximum plaintext: the declared length of a STRING / CHAR; TEXT is not checked. */
export function defaultMaxPlaintext(type: ColumnType): number | undefined {
  return type.key === 'STRING' || type.key === 'CHAR' ? capacityOf(type, '') : undefined;
}

/** Throws one `CmekConfigError` listing every column too short, with the length each needs. */
export async function checkColumns(
  envelope: Envelope,
  checks: readonly ColumnCheck[],
  dialect: string,
  context?: EncryptionContext,
): Promise<void> {
  const problems: string[] = [];
  for (const check of checks) {
    if (check.maxPlaintextBytes === undefined) continue;
    const capacity = capacityOf(check.type, dialect);
    const needed = await measureTokenLength(envelope, check.maxPlaintextBytes, context);
    if (needed > capacity) {
      const suggestion = check.type.key === 'TEXT' ? "TEXT('medium')" : `TEXT or STRING(${needed})`;
      problems.push(
        `${check.qualified} is ${describe(check.type)}; a ${check.maxPlaintextBytes}-byte value needs ${needed} characters: use ${suggestion}`,
      );
    }
  }
  if (problems.length > 0) {
    throw new CmekConfigError(
      `${problems.join('; ')} (or set maxPlaintextBytes to the longest value the field holds)`,
    );
  }
}
