/** The options of `cmekExtension` and their validation: the encrypted fields of each model. */
import {
  CmekConfigError,
  defaultContext,
  type EncryptionContext,
  type Envelope,
  type FieldOptions,
  maxPlaintextBytesOption,
  validateContext,
} from '@cmek/core';

/** The encrypted fields of one model. */
export interface CmekModelOptions {
  /**
   * The encrypted fields (`String` / `String?` fields of the model, named as in the Prisma schema):
   * a list of names, or an object of name to its options (`{ context?, maxPlaintextBytes? }`,
   * core's `FieldOptions`).
   */
  readonly fields: readonly string[] | Readonly<Record<string, FieldOptions>>;
}

export interface CmekExtensionOptions {
  /** The envelope (`createEnvelope` of `@cmek/core`) that encrypts and decrypts. */
  readonly envelope: Envelope;
  /** Model name (as in the Prisma schema: `User`, not `user`) → its encrypted fields. */
  readonly models: Readonly<Record<string, CmekModelOptions>>;
}

/** One encrypted field, as the adapter uses it. */
export interface FieldConfig {
  readonly model: string;
  readonly field: string;
  /** `Model.field`, as errors name it. */
  readonly label: string;
  readonly context: EncryptionContext;
  readonly maxPlaintextBytes: number | undefined;
}

/** Model name → field name → its configuration. */
export type ModelConfigs = ReadonlyMap<string, ReadonlyMap<string, FieldConfig>>;

export interface NormalisedOptions {
  readonly envelope: Envelope;
  readonly models: ModelConfigs;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Throws `CmekConfigError` unless `envelope` looks like core's `Envelope`. */
export function assertEnvelope(envelope: unknown, where: string): asserts envelope is Envelope {
  const e = envelope as Partial<Envelope> | null | undefined;
  if (
    typeof e?.encryptMany !== 'function' ||
    typeof e.decryptMany !== 'function' ||
    typeof e.isEncrypted !== 'function'
  ) {
    throw new CmekConfigError(`${where} needs { envelope } (createEnvelope from @cmek/core)`);
  }
}

function fieldEntries(model: string, fields: unknown): [string, FieldOptions][] {
  if (Array.isArray(fields)) {
    return fields.map((name): [string, FieldOptions] => {
      if (typeof name !== 'string') {
        throw new CmekConfigError(`models.${model}.fields must list field names (strings)`);
      }
      return [name, {}];
    });
  }
  if (!isRecord(fields)) {
    throw new CmekConfigError(
      `models.${model}.fields must be a list of field names or an object of field name to options`,
    );
  }
  return Object.entries(fields).map(([name, options]): [string, FieldOptions] => {
    if (options === undefined || options === true) return [name, {}];
    if (!isRecord(options)) {
      throw new CmekConfigError(
        `models.${model}.fields.${name} must be an object ({ context?, maxPlaintextBytes? })`,
      );
    }
    return [name, options as FieldOptions];
  });
}

/** Validates the options (every context as the envelope will check it) into their lookup form. */
export function normaliseOptions(options: CmekExtensionOptions): NormalisedOptions {
  if (!isRecord(options)) throw new CmekConfigError('cmekExtension needs an options object');
  assertEnvelope(options.envelope, 'cmekExtension');
  return { envelope: options.envelope, models: normaliseModels(options.models, 'cmekExtension') };
}

/** The `models` option (of `cmekExtension`, or the one model of a row store), validated. */
export function normaliseModels(input: unknown, where: string): ModelConfigs {
  if (!isRecord(input) || Object.keys(input).length === 0) {
    throw new CmekConfigError(`${where} needs \`models\`: { ModelName: { fields: [...] } }`);
  }
  const models = new Map<string, Map<string, FieldConfig>>();
  for (const [model, modelOptions] of Object.entries(input)) {
    if (!isRecord(modelOptions)) {
      throw new CmekConfigError(`models.${model} must be an object ({ fields })`);
    }
    const fields = new Map<string, FieldConfig>();
    for (const [field, fieldOptions] of fieldEntries(model, modelOptions.fields)) {
      if (field.length === 0) throw new CmekConfigError(`models.${model}.fields has an empty name`);
      if (fields.has(field)) {
        throw new CmekConfigError(`models.${model}.fields lists ${field} twice`);
      }
      const where = `models.${model}.fields.${field}`;
      fields.set(field, {
        model,
        field,
        label: `${model}.${field}`,
        context:
          fieldOptions.context === undefined
            ? defaultContext(model, field)
            : validateContext(fieldOptions.context, `${where}.context`),
        maxPlaintextBytes: maxPlaintextBytesOption(
          fieldOptions.maxPlaintextBytes,
          `${where}.maxPlaintextBytes`,
        ),
      });
    }
    if (fields.size === 0) {
      throw new CmekConfigError(`models.${model}.fields names no field`);
    }
    models.set(model, fields);
  }
  return models;
}
