/** The options of `cmekPlugin`, their validation, and the configuration kept per schema. */
import {
  type BlindIndexer,
  type BlindIndexOptions,
  CmekConfigError,
  defaultContext,
  type EncryptionContext,
  type Envelope,
  envelopeOption,
  type FieldOptions,
  isTenantEnvelope,
  maxPlaintextBytesOption,
  tenantContext,
  validateContext,
  warnDeprecatedOption,
} from '@cmek/core';
import { blindIndexesOf } from './index-options';
import { type FieldPath, isArrayMarker, parseFields, type SchemaView } from './paths';

export interface CmekPluginOptions {
  /** The envelope that encrypts and decrypts (from `createEnvelope`). */
  readonly envelope: Envelope;
  /**
   * The encrypted paths: `String` paths, possibly nested (`settings.smtp.password`), inside
   * single subdocuments, inside arrays of subdocuments (`webhooks.secret`, also written
   * `webhooks.$.secret`: every element's `secret`), or inside a `Mixed` path. A list, or the
   * paths mapped to their options (core's `FieldOptions`): `context` (default
   * `{ field: '<modelName>.<path>' }`); `maxPlaintextBytes` is accepted for the shared shape and
   * not used (a MongoDB string has no declared length); `blindIndex` (a top-level path only): the
   * `String` path of the schema that holds the value's blind index, written on every write of the
   * value, so that an equality filter on the path can be answered (needs `indexer`).
   */
  readonly fields: readonly string[] | Readonly<Record<string, FieldOptions>>;
  /**
   * The blind indexer (from core's `loadBlindIndexes`) that computes the index values of the paths
   * with a `blindIndex`; required when one has.
   */
  readonly indexer?: BlindIndexer;
  /**
   * The model name used in the default context `{ field: '<modelName>.<path>' }`. Default: the
   * name the schema is compiled under (`mongoose.model(name, schema)`; for a discriminator, the
   * base model's name). Pin it here before renaming a model, or old values stop decrypting.
   */
  readonly modelName?: string;
  /**
   * With a tenant envelope (`createTenantEnvelope`): the top-level path of the schema holding each
   * document's tenant id (for example `'workspaceId'`; a string or a number, not encrypted). Every
   * value is encrypted and decrypted under its document's tenant; a write whose tenant is unknown
   * is refused (`CMEK_UNKNOWN_TENANT`), never encrypted under the default KEK. Required with a
   * tenant envelope.
   */
  readonly tenantPath?: string;
  /** @deprecated Use `fields: { [path]: { context } }`, the same contexts. */
  readonly context?: Readonly<Record<string, EncryptionContext>>;
}

/** A model, as far as this package needs one. */
export interface ModelLike {
  readonly modelName?: string;
  readonly baseModelName?: string;
}

export interface PluginConfig {
  readonly envelope: Envelope;
  readonly fields: readonly FieldPath[];
  readonly modelName: string | undefined;
  readonly contexts: ReadonlyMap<string, EncryptionContext>;
  /** The indexer, when a path has a blind index. */
  readonly indexer: BlindIndexer | undefined;
  /** The blind-index paths of each indexed path (core's `blindIndexesOption`), the first for lookups. */
  readonly indexes: ReadonlyMap<string, readonly BlindIndexOptions[]>;
  /** The blind-index paths, for the collection guard (their values must be `cmek:bi1:` values). */
  readonly indexPaths: readonly FieldPath[];
  /** The path of each document's tenant id (`tenantPath`), with a tenant envelope. */
  readonly tenantPath: string | undefined;
  /** The context key of the tenant id: the tenant envelope's `tenantKey`. */
  readonly tenantKey: string | undefined;
}

const configs = new WeakMap<object, PluginConfig>();
/** The same configurations by the options object, which discriminators and clones keep. */
const byOptions = new WeakMap<object, PluginConfig>();

/** A declared path without its array markers (`webhooks.$.secret` → `webhooks.secret`). */
function pathOf(declared: string): string {
  return declared
    .split('.')
    .filter((s) => !isArrayMarker(s))
    .join('.');
}

/** The per-path options when `fields` is an object; `undefined` for a list (or anything else). */
function fieldOptionsOf(fields: unknown): Record<string, FieldOptions> | undefined {
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) return undefined;
  for (const [path, options] of Object.entries(fields)) {
    if (typeof options !== 'object' || options === null || Array.isArray(options)) {
      throw new CmekConfigError(
        `cmekPlugin: fields.${path} must be an object ({ context?, blindIndex? })`,
      );
    }
  }
  return fields as Record<string, FieldOptions>;
}

function checkContext(path: string, given: unknown): EncryptionContext {
  return validateContext(given, `cmekPlugin: context.${path}`);
}

export function normaliseOptions(schema: SchemaView, options: unknown): PluginConfig {
  if (typeof options !== 'object' || options === null) {
    throw new CmekConfigError('cmekPlugin needs options: { envelope, fields }');
  }
  const o = options as Partial<CmekPluginOptions>;
  const envelope = envelopeOption(o.envelope, 'cmekPlugin');
  if (o.modelName !== undefined && (typeof o.modelName !== 'string' || o.modelName === '')) {
    throw new CmekConfigError('cmekPlugin: `modelName` must be a non-empty string');
  }
  const perField = fieldOptionsOf(o.fields);
  const fields = parseFields(schema, perField === undefined ? o.fields : Object.keys(perField));
  const contexts = new Map<string, EncryptionContext>();
  for (const [declared, fieldOptions] of Object.entries(perField ?? {})) {
    const where = `cmekPlugin: fields.${declared}`;
    maxPlaintextBytesOption(fieldOptions.maxPlaintextBytes, `${where}.maxPlaintextBytes`);
    if (fieldOptions.context !== undefined) {
      contexts.set(pathOf(declared), validateContext(fieldOptions.context, `${where}.context`));
    }
  }
  const given = o.context ?? {};
  if (typeof given !== 'object' || given === null || Array.isArray(given)) {
    throw new CmekConfigError('cmekPlugin: `context` must be an object keyed by path');
  }
  for (const [declared, context] of Object.entries(given)) {
    const path = pathOf(declared);
    if (!fields.some((f) => f.path === path)) {
      throw new CmekConfigError(`cmekPlugin: context names '${declared}', which is not in fields`);
    }
    if (contexts.has(path)) {
      throw new CmekConfigError(
        `cmekPlugin: '${declared}' has a context in fields and in the deprecated \`context\``,
      );
    }
    contexts.set(path, checkContext(declared, context));
  }
  if (o.context !== undefined) {
    warnDeprecatedOption(
      'CMEK_DEP_MONGOOSE_CONTEXT',
      '@cmek/adapter-mongoose: the `context` option is deprecated; give each path its context in `fields: { <path>: { context } }`',
    );
  }
  const { indexer, indexes, indexPaths } = blindIndexesOf(schema, fields, perField, o.indexer);
  for (const path of indexes.keys()) {
    const field = contexts.get(path)?.field;
    if (contexts.has(path) && (typeof field !== 'string' || field === '')) {
      throw new CmekConfigError(
        `cmekPlugin: fields.${path} has a blind index, so its context needs a \`field\` value (the label its index is derived under)`,
      );
    }
  }
  const tenantKey = isTenantEnvelope(envelope) ? envelope.tenantKey : undefined;
  const tenantPath = tenantPathOption(schema, o.tenantPath, tenantKey, fields, indexes.size > 0);
  if (tenantKey !== undefined && tenantPath === undefined) {
    const fixed = fields.find((f) => contexts.get(f.path)?.[tenantKey] === undefined);
    if (fixed !== undefined) {
      throw new CmekConfigError(
        `cmekPlugin: the envelope is a tenant envelope (createTenantEnvelope), so the schema needs \`tenantPath\`: the top-level path holding each document's tenant id`,
      );
    }
  }
  return {
    envelope,
    fields,
    modelName: o.modelName,
    contexts,
    indexer,
    indexes,
    indexPaths,
    tenantPath,
    tenantKey,
  };
}

/** The validated `tenantPath`: a declared top-level path, not encrypted, with a tenant envelope. */
function tenantPathOption(
  schema: SchemaView,
  given: unknown,
  tenantKey: string | undefined,
  fields: readonly FieldPath[],
  indexed: boolean,
): string | undefined {
  if (given === undefined) return undefined;
  if (typeof given !== 'string' || !/^[^.$][^.]*$/.test(given)) {
    throw new CmekConfigError('cmekPlugin: `tenantPath` must be the name of a top-level path');
  }
  if (tenantKey === undefined) {
    throw new CmekConfigError(
      "cmekPlugin: `tenantPath` needs a tenant envelope (createTenantEnvelope of @cmek/core): a plain envelope would encrypt every tenant's values under one KEK",
    );
  }
  if (schema.path(given) === undefined) {
    throw new CmekConfigError(`cmekPlugin: tenantPath '${given}' is not a path of the schema`);
  }
  if (fields.some((f) => f.segments[0] === given)) {
    throw new CmekConfigError(
      `cmekPlugin: tenantPath '${given}' is an encrypted path; the tenant path is stored in the clear`,
    );
  }
  if (indexed) {
    throw new CmekConfigError(
      'cmekPlugin: `tenantPath` and `blindIndex` cannot be combined yet: a blind index is not scoped to a tenant',
    );
  }
  return given;
}

export function rememberConfig(schema: object, options: object, config: PluginConfig): void {
  if (configs.has(schema)) {
    throw new CmekConfigError('cmekPlugin is applied twice to the same schema');
  }
  configs.set(schema, config);
  byOptions.set(options, config);
}

/**
 * The configuration of the schema a model was compiled from: the plugin's own schema, or a
 * schema Mongoose derived from it (a discriminator's, a clone), whose plugin list keeps the
 * options object the plugin was given.
 */
export function configOfSchema(schema: unknown): PluginConfig | undefined {
  if (typeof schema !== 'object' || schema === null) return undefined;
  const own = configs.get(schema);
  if (own !== undefined) return own;
  const plugins = (schema as { plugins?: unknown }).plugins;
  if (!Array.isArray(plugins)) return undefined;
  for (const entry of plugins) {
    const opts = (entry as { opts?: unknown } | null)?.opts;
    if (typeof opts === 'object' && opts !== null && byOptions.has(opts))
      return byOptions.get(opts);
  }
  return undefined;
}

/** The name a model's values are bound to: the base model's name for a discriminator. */
export function modelNameFor(config: PluginConfig, model: ModelLike | undefined): string {
  const name = config.modelName ?? model?.baseModelName ?? model?.modelName;
  if (typeof name !== 'string' || name === '') {
    throw new CmekConfigError(
      'cmekPlugin: the model name is unknown here (a schema with the plugin used as a subdocument?); apply the plugin to the top-level schema and declare nested paths there, or pass `modelName`',
    );
  }
  return name;
}

/** The encryption context of a field of a model. */
export function contextFor(
  config: PluginConfig,
  field: FieldPath,
  model: ModelLike | undefined,
): EncryptionContext {
  return config.contexts.get(field.path) ?? defaultContext(modelNameFor(config, model), field.path);
}

/** The encryption context of each field, for one model. */
export type ContextOf = (field: FieldPath) => EncryptionContext;

/** The contexts of one model per tenant (`undefined`: no tenant path, or the tenant unknown). */
export type ContextsOf = (tenant: string | undefined) => ContextOf;

/** `contextsOf` per tenant, for one model. */
export function tenantContextsOf(config: PluginConfig, model: ModelLike | undefined): ContextsOf {
  return (tenant) => contextsOf(config, model, tenant);
}

/**
 * `contextFor` bound to one model (and, under a `tenantPath`, to one document's tenant): what the
 * write and read sides take. A tenant left `undefined` under a `tenantPath` is passed on without
 * one: the tenant envelope refuses the value (`CMEK_UNKNOWN_TENANT`), never the default KEK.
 */
export function contextsOf(
  config: PluginConfig,
  model: ModelLike | undefined,
  tenant?: string,
): ContextOf {
  const key = config.tenantPath === undefined ? undefined : config.tenantKey;
  return (field) => tenantContext(contextFor(config, field, model), key, tenant);
}
