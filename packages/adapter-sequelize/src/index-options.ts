/**
 * The `blindIndex` option of `encryptFields`' fields, validated at setup: core's
 * `blindIndexesOption` for its shape, then what Sequelize adds. Each index `column` is an
 * attribute of the model (`tokenHashBidx`, stored in its own database column, `token_hash_bidx`
 * with `underscored`): a STRING, CHAR or TEXT attribute that holds `BLIND_INDEX_MAX_LENGTH`
 * characters, neither the primary key, nor an encrypted field, nor the index of another field; an
 * indexer is required.
 */
import {
  BLIND_INDEX_MAX_LENGTH,
  type BlindIndexOptions,
  blindIndexesOption,
  CmekConfigError,
} from '@cmek/core';
import { capacityOf } from './column-check';

/** The blind indexes of one field: the validated list and each index attribute's column. */
export interface FieldIndexes {
  /** `blindIndexesOption` of the field's option (`column`: the index attribute); empty: none. */
  readonly indexes: readonly BlindIndexOptions[];
  /** The database column of each of `indexes`, in order. */
  readonly indexColumns: readonly string[];
}

const NONE: FieldIndexes = Object.freeze({ indexes: Object.freeze([]), indexColumns: [] });

interface RawAttribute {
  readonly type?: { key?: unknown; _length?: unknown };
  readonly field?: unknown;
  readonly primaryKey?: unknown;
}

/**
 * The index attributes of `qualified`'s `blindIndex` option (`where` names it in errors). Each
 * must be an attribute of the model, a string type able to hold an index value, not its primary
 * key; `taken` holds the attributes already used (encrypted fields, other indexes) and receives
 * these.
 */
export function fieldIndexes(
  rawAttributes: Readonly<Record<string, unknown>>,
  option: unknown,
  where: string,
  taken: Map<string, string>,
): FieldIndexes {
  const indexes = blindIndexesOption(option, where);
  if (indexes.length === 0) return NONE;
  const indexColumns: string[] = [];
  for (const { column: attribute } of indexes) {
    const raw = rawAttributes[attribute] as RawAttribute | undefined;
    if (!raw) {
      throw new CmekConfigError(
        `${where}.column ${attribute} is not an attribute of the model: declare it (DataTypes.STRING(${BLIND_INDEX_MAX_LENGTH}) or longer, usually unique)`,
      );
    }
    if (raw.primaryKey)
      throw new CmekConfigError(`${where}.column ${attribute} is the primary key`);
    const holder = taken.get(attribute);
    if (holder !== undefined) {
      throw new CmekConfigError(`${where}.column ${attribute} is already ${holder}`);
    }
    const key = String(raw.type?.key ?? 'unknown');
    const length = raw.type?._length as number | string | undefined;
    if (!['STRING', 'CHAR', 'TEXT', 'CITEXT'].includes(key)) {
      throw new CmekConfigError(
        `${where}.column ${attribute} is ${key}: an index attribute is a STRING, CHAR or TEXT attribute`,
      );
    }
    if (capacityOf({ key, length }, '') < BLIND_INDEX_MAX_LENGTH) {
      throw new CmekConfigError(
        `${where}.column ${attribute} is ${key}(${String(length)}): an index value needs ${BLIND_INDEX_MAX_LENGTH} characters (use STRING(80))`,
      );
    }
    taken.set(attribute, `the index of ${where.replace(/\.blindIndex$/, '')}`);
    indexColumns.push(typeof raw.field === 'string' ? raw.field : attribute);
  }
  return { indexes, indexColumns: Object.freeze(indexColumns) };
}
