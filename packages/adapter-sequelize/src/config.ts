/** The per-model configuration `encryptFields` records, shared by the hooks and the row store. */
import type { EncryptionContext, Envelope, PlaintextPolicy } from '@cmek/core';
import type { ModelStatic, Model as SequelizeModel } from 'sequelize';

export type AnyModelStatic = ModelStatic<SequelizeModel>;

export interface FieldConfig {
  /** The attribute name declared on the model (`slackToken`). */
  readonly attribute: string;
  /** The database column (`slack_token` with `underscored`, else the attribute). */
  readonly column: string;
  /** `Model.attribute`, used in error messages. */
  readonly qualified: string;
  /** The encryption context every value of the field is bound to. */
  readonly context: EncryptionContext;
}

export interface ModelConfig {
  readonly model: AnyModelStatic;
  readonly envelope: Envelope;
  readonly plaintextPolicy: PlaintextPolicy | undefined;
  /** By attribute name. */
  readonly byAttribute: ReadonlyMap<string, FieldConfig>;
  /** By attribute name and by column name (both spellings reach the query interface). */
  readonly byName: ReadonlyMap<string, FieldConfig>;
}

const registry = new WeakMap<object, ModelConfig>();

export function configOf(model: unknown): ModelConfig | undefined {
  return typeof model === 'function' || (typeof model === 'object' && model !== null)
    ? registry.get(model as object)
    : undefined;
}

export function register(config: ModelConfig): void {
  registry.set(config.model, config);
}

/** The default context of SPEC §7: `{ field: '<Model name>.<attribute>' }`, or the fixed label. */
export function contextFor(
  modelName: string,
  attribute: string,
  label?: string,
): EncryptionContext {
  return { field: label ?? `${modelName}.${attribute}` };
}
