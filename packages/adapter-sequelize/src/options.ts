/** The per-model configuration `encryptFields` records, shared by the hooks and the row store. */
import {
  CmekConfigError,
  defaultContext,
  type EncryptionContext,
  type Envelope,
  type PlaintextPolicy,
  validateContext,
  warnDeprecatedOption,
} from '@cmek/core';
import type { ModelStatic, Model as SequelizeModel } from 'sequelize';

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
  readonly plaintextPolicy: PlaintextPolicy | undefined;
}

/** Encrypted fields by the names a write or a filter may use for them. */
export interface FieldSet {
  /** By attribute name and by column name (both spellings reach the query interface). */
  readonly byName: ReadonlyMap<string, FieldConfig>;
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

export interface ModelConfig extends FieldSet {
  readonly model: AnyModelStatic;
  readonly envelope: Envelope;
  readonly plaintextPolicy: PlaintextPolicy | undefined;
  /** By attribute name. */
  readonly byAttribute: ReadonlyMap<string, FieldConfig>;
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
