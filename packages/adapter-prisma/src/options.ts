/**
 * The options of `cmekExtension` and their validation: the encrypted fields of each model, their
 * blind indexes, and the indexer that computes them.
 */
import {
  type BlindIndexer,
  type BlindIndexOptions,
  blindIndexesOption,
  CmekConfigError,
  defaultContext,
  type EncryptionContext,
  type Envelope,
  envelopeOption,
  type FieldOptions,
  fieldOptionEntries,
  indexerOption,
  isTenantEnvelope,
  maxPlaintextBytesOption,
  validateContext,
} from '@cmek/core';

/** The encrypted fields of one model. */
export interface CmekModelOptions {
  /**
   * The encrypted fields (`String` / `String?` fields of the model, named as in the Prisma schema):
   * a list of names, or an object of name to its options (`{ context?, maxPlaintextBytes?,
   * blindIndex? }`, core's `FieldOptions`). A `blindIndex` names a `String` field of the same
   * model (`{ column: 'tokenHashBidx' }`) that holds the field's index.
   */
  readonly fields: readonly string[] | Readonly<Record<string, FieldOptions>>;
  /**
   * The scalar field holding each record's tenant id (`workspaceId`), for an `envelope` from
   * `createTenantEnvelope`: every value of the record is encrypted and decrypted under that
   * tenant's KEK (the id in its context, under the envelope's `tenantKey`). Required on every
   * model of a tenant envelope; the field is not encrypted.
   */
  readonly tenantColumn?: string;
}

export interface CmekExtensionOptions {
  /** The envelope (`createEnvelope` of `@cmek/core`) that encrypts and decrypts. */
  readonly envelope: Envelope;
  /** Model name (as in the Prisma schema: `User`, not `user`) → its encrypted fields. */
  readonly models: Readonly<Record<string, CmekModelOptions>>;
  /**
   * The loaded index keys (`loadBlindIndexes` of `@cmek/core`): required when a field has a
   * `blindIndex`. It computes each write's index values and each lookup's, with no KEK call.
   */
  readonly indexer?: BlindIndexer;
}

/** One encrypted field, as the adapter uses it. */
export interface FieldConfig {
  readonly model: string;
  readonly field: string;
  /** `Model.field`, as errors name it. */
  readonly label: string;
  readonly context: EncryptionContext;
  readonly maxPlaintextBytes: number | undefined;
  /** The field's blind-index columns (fields of the model), the lookup one first; often empty. */
  readonly indexes: readonly BlindIndexOptions[];
  /** The extension's indexer, for a field with indexes (a row store has none: the engine has it). */
  readonly indexer?: BlindIndexer;
  /** The model's tenant field and the context key of the tenant id (a tenant envelope). */
  readonly tenant?: TenantField;
}

/** The tenant field of a model (`tenantColumn`), and the context key the tenant id goes under. */
export interface TenantField {
  readonly field: string;
  readonly key: string;
}

/** Model name → field name → its configuration. */
export type ModelConfigs = ReadonlyMap<string, ReadonlyMap<string, FieldConfig>>;

export interface NormalisedOptions {
  readonly envelope: Envelope;
  readonly models: ModelConfigs;
  readonly indexer: BlindIndexer | undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `fields` with a field given as `true` or `undefined` (no options) as `{}`. */
function withoutOptions(fields: unknown): unknown {
  if (!isRecord(fields)) return fields;
  return Object.fromEntries(
    Object.entries(fields).map(([name, o]) => [name, o === undefined || o === true ? {} : o]),
  );
}

/** Validates the options (every context as the envelope will check it) into their lookup form. */
export function normaliseOptions(options: CmekExtensionOptions): NormalisedOptions {
  if (!isRecord(options)) throw new CmekConfigError('cmekExtension needs an options object');
  const envelope = envelopeOption(options.envelope, 'cmekExtension');
  const indexer = indexerOption(options.indexer, 'cmekExtension');
  const tenantKey = isTenantEnvelope(envelope) ? envelope.tenantKey : undefined;
  const models = normaliseModels(options.models, 'cmekExtension', indexer, tenantKey);
  for (const fields of models.values()) {
    for (const field of fields.values()) {
      if (tenantKey !== undefined && field.tenant === undefined && !(tenantKey in field.context)) {
        throw new CmekConfigError(
          `models.${field.model}: the envelope is a tenant envelope (createTenantEnvelope), so the model needs \`tenantColumn\`: the field holding each record's tenant id`,
        );
      }
      if (field.indexes.length > 0 && indexer === undefined) {
        throw new CmekConfigError(
          `models.${field.model}.fields.${field.field}.blindIndex needs the extension's \`indexer\` (loadBlindIndexes from @cmek/core)`,
        );
      }
    }
  }
  return { envelope, models, indexer };
}

/**
 * The `models` option (of `cmekExtension`, or the one model of a row store), validated; `indexer`
 * is given to the fields that have a blind index.
 */
export function normaliseModels(
  input: unknown,
  where: string,
  indexer?: BlindIndexer,
  tenantKey?: string,
): ModelConfigs {
  if (!isRecord(input) || Object.keys(input).length === 0) {
    throw new CmekConfigError(`${where} needs \`models\`: { ModelName: { fields: [...] } }`);
  }
  const models = new Map<string, Map<string, FieldConfig>>();
  for (const [model, modelOptions] of Object.entries(input)) {
    if (!isRecord(modelOptions)) {
      throw new CmekConfigError(`models.${model} must be an object ({ fields })`);
    }
    const fields = new Map<string, FieldConfig>();
    const tenant = tenantOption(model, modelOptions.tenantColumn, tenantKey);
    for (const [field, fieldOptions] of fieldOptionEntries(
      withoutOptions(modelOptions.fields),
      `models.${model}.fields`,
      'field',
    )) {
      if (field === tenant?.field) {
        throw new CmekConfigError(
          `models.${model}.tenantColumn: ${model}.${field} is encrypted; the tenant field cannot be`,
        );
      }
      if (fields.has(field)) {
        throw new CmekConfigError(`models.${model}.fields lists ${field} twice`);
      }
      const where = `models.${model}.fields.${field}`;
      const indexes = blindIndexesOption(fieldOptions.blindIndex, `${where}.blindIndex`);
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
        indexes,
        ...(indexes.length > 0 && indexer !== undefined ? { indexer } : {}),
        ...(tenant === undefined ? {} : { tenant }),
      });
    }
    models.set(model, fields);
  }
  return models;
}

/** A model's `tenantColumn`, validated (its field is checked against the data model later). */
function tenantOption(
  model: string,
  given: unknown,
  tenantKey: string | undefined,
): TenantField | undefined {
  if (given === undefined) return undefined;
  if (typeof given !== 'string' || given.length === 0) {
    throw new CmekConfigError(`models.${model}.tenantColumn must be a field name`);
  }
  if (tenantKey === undefined) {
    throw new CmekConfigError(
      `models.${model}.tenantColumn needs a tenant envelope (createTenantEnvelope of @cmek/core): a plain envelope would encrypt every tenant's values under one KEK`,
    );
  }
  return { field: given, key: tenantKey };
}
