/**
 * The options of `encryptFields`, their validation, and the configuration they make: each
 * encrypted field of a model with its column, context, envelope and plaintext policy, kept per
 * model for the query interface, the validation hook and the row store.
 */
import {
  type BlindIndexer,
  type BlindIndexOptions,
  CmekConfigError,
  defaultContext,
  type EncryptionContext,
  type Envelope,
  type FieldOptions,
  indexerOption,
  isTenantEnvelope,
  type PlaintextPolicy,
  validateContext,
  warnDeprecatedOption,
} from '@cmek/core';
import type { ModelStatic, Model as SequelizeModel } from 'sequelize';
import { assertStringType, type ColumnCheck, defaultMaxPlaintext } from './column-check';
import { fieldIndexes } from './index-options';

/**
 * The options of one encrypted field: `context` (default `{ field: '<Model name>.<attribute>' }`;
 * pin the old one before renaming a model or attribute, or values written under it stop
 * decrypting), `maxPlaintextBytes` (the longest plaintext, in UTF-8 bytes, for the column
 * length check) and `blindIndex` (`{ column, normalize?, mode?, key? }`, or a list of them during
 * a rotation: `column` is a STRING attribute of the model that receives a keyed hash of the
 * plaintext on every write, so that `where: { field: value }` and `Op.in` can be answered; needs
 * `indexer`).
 */
export interface EncryptedFieldOptions extends FieldOptions {
  /** @deprecated Use `context: { field: label }`, the same context. */
  readonly label?: string;
}

export interface EncryptFieldsOptions {
  /** The envelope that encrypts and decrypts (holds the KEK provider or keyring). */
  readonly envelope: Envelope;
  /** The encrypted attributes: names, or names mapped to per-field options. */
  readonly fields: readonly string[] | Readonly<Record<string, EncryptedFieldOptions>>;
  /** How reads treat a stored value that is not a token; default: the envelope's policy. */
  readonly plaintextPolicy?: PlaintextPolicy;
  /**
   * The longest plaintext, in UTF-8 bytes, for the column length check of every field without
   * its own. Default: the declared length of a STRING / CHAR column; TEXT is not checked.
   */
  readonly maxPlaintextBytes?: number;
  /**
   * The blind indexer (`loadBlindIndexes` of `@cmek/core`) that computes the index values of the
   * fields with a `blindIndex`; required when one has.
   */
  readonly indexer?: BlindIndexer;
  /**
   * The attribute holding each row's tenant id (`workspaceId`), for a tenant envelope
   * (`createTenantEnvelope`): every value is encrypted and decrypted under its field's context
   * plus its row's tenant id. A value whose row's tenant is unknown is refused
   * (`CMEK_UNKNOWN_TENANT`), never written under the default KEK.
   */
  readonly tenantColumn?: string;
  /**
   * With `tenantColumn`: the tenant whose KEK the column length check measures a token under
   * (any tenant the envelope resolves). Needed when a field is checked (a STRING / CHAR column,
   * or a `maxPlaintextBytes`); TEXT columns without one are not checked.
   */
  readonly measureTenant?: string;
}

/** The tenant attribute of a model under a tenant envelope. */
export interface TenantConfig {
  /** The attribute (`workspaceId`). */
  readonly attribute: string;
  /** Its database column (`workspace_id` with `underscored`). */
  readonly column: string;
  /** The context key the envelope reads the tenant id from (`tenantKey`). */
  readonly key: string;
}

export type AnyModelStatic = ModelStatic<SequelizeModel>;

export interface FieldConfig {
  /** The attribute name declared on the model (`slackToken`). */
  readonly attribute: string;
  /** The database column (`slack_token` with `underscored`, else the attribute). */
  readonly column: string;
  /** `Model.attribute`: the `field` of a `CmekQueryError`. */
  readonly qualified: string;
  /**
   * How error messages name the field: `Model.attribute` on the model's own paths,
   * `table.column (Model.attribute)` on the shared query interface.
   */
  readonly display: string;
  /** The encryption context every value of the field is bound to. */
  readonly context: EncryptionContext;
  /** The envelope of the model that declared the field. */
  readonly envelope: Envelope;
  /** How reads treat a stored value that is not a token; undefined: the envelope's policy. */
  readonly plaintextPolicy: PlaintextPolicy | undefined;
  /**
   * The field's blind indexes (`blindIndexesOption`; `column` is the index attribute), the first
   * the one lookups use; empty: none.
   */
  readonly indexes: readonly BlindIndexOptions[];
  /** The database column of each of `indexes`, in order. */
  readonly indexColumns: readonly string[];
  /** The indexer of `indexes` (set when there are any). */
  readonly indexer: BlindIndexer | undefined;
  /** The model's tenant attribute, when its values are written under tenants. */
  readonly tenant?: TenantConfig;
}

/** Encrypted fields by the names a write or a filter may use for them. */
export interface FieldSet {
  /** By attribute name and by column name (both spellings reach the query interface). */
  readonly byName: ReadonlyMap<string, FieldConfig>;
  /** The field whose blind index each index attribute and column name holds (a write is refused). */
  readonly byIndexName?: ReadonlyMap<string, FieldConfig>;
}

/**
 * The key of a field's `j`th index beside the key `key` names the field by in a record or a
 * filter: the index attribute beside the attribute, else the index column (Sequelize has mapped
 * attributes to columns before the query interface).
 */
export function indexKeyOf(field: FieldConfig, key: string, j: number): string {
  return key === field.attribute ? field.indexes[j]!.column : field.indexColumns[j]!;
}

/** The field whose blind index `name` is (an index attribute or column, in any letter case). */
export function indexNamed(set: FieldSet, name: string): FieldConfig | undefined {
  const map = set.byIndexName;
  if (map === undefined || map.size === 0) return undefined;
  const exact = map.get(name);
  if (exact !== undefined) return exact;
  const lower = name.toLowerCase();
  for (const [key, field] of map) if (key.toLowerCase() === lower) return field;
  return undefined;
}

const folded = new WeakMap<FieldSet, ReadonlyMap<string, FieldConfig>>();

/**
 * The encrypted field a record key, filter key or column names: exactly, else in another letter
 * case. SQLite and MySQL / MariaDB resolve column names case-insensitively, so a seeder's
 * `{ SLACK_TOKEN: … }` reaches the column `slack_token`: matching it only exactly would write
 * plaintext. On PostgreSQL the looser match can only treat one more name as encrypted.
 */
export function fieldNamed(set: FieldSet, name: string): FieldConfig | undefined {
  const exact = set.byName.get(name);
  if (exact !== undefined) return exact;
  let byFolded = folded.get(set);
  if (byFolded === undefined) {
    const map = new Map<string, FieldConfig>();
    for (const [key, field] of set.byName) {
      const lower = key.toLowerCase();
      if (!map.has(lower)) map.set(lower, field);
    }
    folded.set(set, map);
    byFolded = map;
  }
  return byFolded.get(name.toLowerCase());
}

/** What `encryptFields` recorded for a model: its encrypted fields. */
export interface ModelConfig extends FieldSet {
  readonly model: AnyModelStatic;
  /** By attribute name. */
  readonly byAttribute: ReadonlyMap<string, FieldConfig>;
  /** The tenant attribute (`tenantColumn`), if any. */
  readonly tenant?: TenantConfig;
}

const registry = new WeakMap<object, ModelConfig>();

/**
 * The configuration of `model`, or of the model it is a copy of: `Model.schema('tenant')` is a
 * subclass of the model with its attributes. A subclass initialised as a model of its own
 * (`init` or `define` gives it its own attributes) has only its own configuration.
 */
export function configOf(model: unknown): ModelConfig | undefined {
  let at: unknown = model;
  for (let depth = 0; typeof at === 'function' && depth < 8; depth++) {
    const config = registry.get(at);
    if (config) return config;
    if (Object.hasOwn(at, 'rawAttributes')) return undefined;
    at = Object.getPrototypeOf(at);
  }
  return typeof model === 'object' && model !== null ? registry.get(model) : undefined;
}

/** Whether `encryptFields` ran for `model` itself. */
export function isConfigured(model: unknown): boolean {
  return typeof model === 'function' && registry.has(model);
}

export function register(config: ModelConfig): void {
  registry.set(config.model, config);
}

/**
 * The encryption context of a field: `context` as given (validated as the envelope validates
 * contexts), the deprecated `label` (the same as `context: { field: label }`), or SPEC §7's
 * default `{ field: '<Model name>.<attribute>' }`. `where` names the option in errors.
 */
export function fieldContext(
  modelName: string,
  attribute: string,
  given: { readonly context?: unknown; readonly label?: unknown },
  where: string,
): EncryptionContext {
  if (given.label !== undefined) {
    if (given.context !== undefined) {
      throw new CmekConfigError(`${where}: give \`context\` or the deprecated \`label\`, not both`);
    }
    if (typeof given.label !== 'string' || given.label === '') {
      throw new CmekConfigError(
        `the label of ${modelName}.${attribute} must be a non-empty string`,
      );
    }
    warnDeprecatedOption(
      'CMEK_DEP_SEQUELIZE_LABEL',
      `@cmek/adapter-sequelize: the \`label\` option is deprecated; use \`context: { field: '${given.label}' }\` (the same context)`,
    );
    return Object.freeze({ field: given.label });
  }
  if (given.context !== undefined) return validateContext(given.context, `${where}.context`);
  return defaultContext(modelName, attribute);
}

function fieldEntries(fields: EncryptFieldsOptions['fields']): [string, EncryptedFieldOptions][] {
  if (Array.isArray(fields)) return (fields as readonly string[]).map((name) => [name, {}]);
  if (typeof fields === 'object' && fields !== null)
    return Object.entries(fields as Record<string, EncryptedFieldOptions>);
  throw new CmekConfigError(
    'encryptFields needs `fields`: a list of attribute names, or an object of them',
  );
}

function nonNegativeInteger(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new CmekConfigError(`${name} must be a non-negative integer`);
  }
  return value;
}

/** `tenantColumn`: an attribute of the model, not encrypted, with a tenant envelope. */
function tenantOption(
  model: AnyModelStatic,
  given: EncryptFieldsOptions,
  entries: readonly [string, EncryptedFieldOptions][],
): TenantConfig | undefined {
  const attribute = given.tenantColumn;
  if (attribute === undefined) {
    if (isTenantEnvelope(given.envelope)) {
      throw new CmekConfigError(
        `encryptFields(${model.name}) with a tenant envelope needs \`tenantColumn\`: the attribute holding each row's tenant id`,
      );
    }
    return undefined;
  }
  if (typeof attribute !== 'string' || attribute === '')
    throw new CmekConfigError('tenantColumn must be the name of an attribute of the model');
  const raw = model.rawAttributes[attribute] as { field?: unknown } | undefined;
  if (!raw)
    throw new CmekConfigError(`tenantColumn: ${model.name}.${attribute} is not an attribute`);
  if (entries.some(([name]) => name === attribute))
    throw new CmekConfigError(`tenantColumn: ${model.name}.${attribute} cannot be encrypted`);
  if (given.measureTenant !== undefined && typeof given.measureTenant !== 'string')
    throw new CmekConfigError('measureTenant must be a tenant id (a string)');
  if (!isTenantEnvelope(given.envelope)) {
    throw new CmekConfigError(
      'tenantColumn needs a tenant envelope (createTenantEnvelope of @cmek/core)',
    );
  }
  const column = typeof raw.field === 'string' ? raw.field : attribute;
  return Object.freeze({ attribute, column, key: given.envelope.tenantKey });
}

/** A model's configuration, and the column checks `encryptFields` runs before recording it. */
export interface NormalisedOptions {
  readonly config: ModelConfig;
  readonly checks: readonly ColumnCheck[];
}

/**
 * Validates `encryptFields(Model, options)`: a model class not configured yet, an envelope, at
 * least one field, each an attribute of the model that is not its primary key and is a string
 * column, with a valid context, `maxPlaintextBytes` and `blindIndex` (with an `indexer`). Throws
 * `CmekConfigError`.
 */
export function normaliseOptions(Model: unknown, options: unknown): NormalisedOptions {
  if (
    typeof Model !== 'function' ||
    typeof (Model as { rawAttributes?: unknown }).rawAttributes !== 'object'
  ) {
    throw new CmekConfigError(
      'encryptFields needs a Sequelize model class (initialised with init or define)',
    );
  }
  const given = options as EncryptFieldsOptions | null;
  if (
    typeof given !== 'object' ||
    given === null ||
    typeof given.envelope?.encryptMany !== 'function'
  ) {
    throw new CmekConfigError('encryptFields needs an options object with an envelope');
  }
  const model = Model as AnyModelStatic;
  if (isConfigured(model))
    throw new CmekConfigError(`encryptFields was already called for ${model.name}`);
  const indexer = indexerOption(given.indexer, 'encryptFields');
  const byAttribute = new Map<string, FieldConfig>();
  const byName = new Map<string, FieldConfig>();
  const byIndexName = new Map<string, FieldConfig>();
  const checks: ColumnCheck[] = [];
  const defaultMax = nonNegativeInteger(given.maxPlaintextBytes, 'maxPlaintextBytes');
  const entries = fieldEntries(given.fields);
  if (entries.length === 0) throw new CmekConfigError('encryptFields needs at least one field');
  const tenant = tenantOption(model, given, entries);
  // attributes an index may not use: the encrypted fields, then each index given
  const taken = new Map(entries.map(([attribute]) => [attribute, 'an encrypted field']));
  for (const [attribute, fieldOptions] of entries) {
    const qualified = `${model.name}.${attribute}`;
    const raw = model.rawAttributes[attribute] as
      | { type?: { key?: unknown; _length?: unknown }; field?: unknown; primaryKey?: unknown }
      | undefined;
    if (!raw) throw new CmekConfigError(`${qualified} is not an attribute of the model`);
    if (raw.primaryKey)
      throw new CmekConfigError(`${qualified} is the primary key and cannot be encrypted`);
    const type = {
      key: String(raw.type?.key ?? 'unknown'),
      length: raw.type?._length as number | string | undefined,
    };
    assertStringType(qualified, type);
    const column = typeof raw.field === 'string' ? raw.field : attribute;
    const where = `fields.${attribute}`;
    const { indexes, indexColumns } = fieldIndexes(
      model.rawAttributes,
      fieldOptions.blindIndex,
      `${where}.blindIndex`,
      taken,
    );
    if (indexes.length > 0 && indexer === undefined) {
      throw new CmekConfigError(
        `${where}.blindIndex needs encryptFields' \`indexer\` (loadBlindIndexes of @cmek/core)`,
      );
    }
    const field: FieldConfig = {
      attribute,
      column,
      qualified,
      display: qualified,
      context: fieldContext(model.name, attribute, fieldOptions, where),
      envelope: given.envelope,
      plaintextPolicy: given.plaintextPolicy,
      indexes,
      indexColumns,
      indexer: indexes.length > 0 ? indexer : undefined,
      ...(tenant ? { tenant } : {}),
    };
    byAttribute.set(attribute, field);
    byName.set(attribute, field);
    byName.set(column, field);
    for (const [j, index] of indexes.entries()) {
      byIndexName.set(index.column, field);
      byIndexName.set(indexColumns[j]!, field);
    }
    const max = nonNegativeInteger(
      fieldOptions.maxPlaintextBytes,
      `${qualified}.maxPlaintextBytes`,
    );
    checks.push({
      qualified,
      type,
      maxPlaintextBytes: max ?? defaultMax ?? defaultMaxPlaintext(type),
    });
  }
  return {
    config: { model, byAttribute, byName, byIndexName, ...(tenant ? { tenant } : {}) },
    checks,
  };
}
