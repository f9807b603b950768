/** `encryptFields`: turns on encryption for fields of a Sequelize model. */
import {
  CmekConfigError,
  type EncryptionContext,
  type Envelope,
  type FieldOptions,
  type PlaintextPolicy,
} from '@cmek/core';
import {
  assertStringType,
  type ColumnCheck,
  checkColumns,
  defaultMaxPlaintext,
} from './column-check';
import {
  type AnyModelStatic,
  type FieldConfig,
  fieldContext,
  isConfigured,
  type ModelConfig,
  register,
} from './config';
import { modelQueryInterface, type QueryInterfaceLike } from './query-interface';
import { originalsOf } from './shared-query-interface';
import { guardValidation } from './validation';

/**
 * The options of one encrypted field: `context` (default `{ field: '<Model name>.<attribute>' }`;
 * pin the old one before renaming a model or attribute, or values written under it stop
 * decrypting) and `maxPlaintextBytes` (the longest plaintext, in UTF-8 bytes, for the column
 * length check).
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
}

export interface EncryptedModel {
  /** The encrypted attributes. */
  readonly fields: readonly string[];
  /** The encryption context values of `field` are bound to. */
  contextFor(field: string): EncryptionContext;
}

function fieldEntries(fields: EncryptFieldsOptions['fields']): [string, EncryptedFieldOptions][] {
  if (Array.isArray(fields)) return (fields as readonly string[]).map((name) => [name, {}]);
  if (typeof fields === 'object' && fields !== null)
    return Object.entries(fields as Record<string, EncryptedFieldOptions>);
  throw new CmekConfigError(
    'encryptFields needs `fields`: a list of attribute names, or an object of them',
  );
}

function positiveInteger(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new CmekConfigError(`${name} must be a non-negative integer`);
  }
  return value;
}

/**
 * Encrypts `fields` of `Model` on every write path and decrypts them on every read path:
 *
 * - writes: `create`, `save`, `update`, `bulkCreate` (with or without `individualHooks`,
 *   `updateOnDuplicate`), static `update` (with or without `individualHooks`), `upsert`,
 *   `findOrCreate`, with or without hooks: the values are encrypted in the model's query
 *   interface, the step every one of them goes through, after validation and after every hook;
 * - writes to the model's table through `sequelize.getQueryInterface()` (seeders, data
 *   migrations) or another model over the same table: encrypted by column name, under the
 *   field's context;
 * - reads: every finder (`findAll`, `findOne`, `findByPk`, `findAndCountAll`, `reload`, `raw`,
 *   `attributes` subsets and aliases, `include` of encrypted models), with or without hooks:
 *   each field of a result set is decrypted in one batch in the query interface's `select`,
 *   before any `afterFind` hook runs;
 * - a `where`, `order` or `group` on an encrypted field, an aggregate or SQL function of one
 *   (`max`, `min`, `sum`, `fn(...)`), and `increment` of one, throw `CmekQueryError`;
 * - a value that already is a token decrypting under this field's context is written as it is
 *   (nothing is encrypted twice); any other string starting with `cmek:` is refused with
 *   `CmekInvalidInputError` (no token of another field can be smuggled in).
 *
 * Checks at once (so it is async: it measures a token, one KEK call) that each column can hold
 * the ciphertext: `CmekConfigError` with the length needed. Call it right after defining the
 * model, before the first query.
 */
export async function encryptFields(
  Model: AnyModelStatic,
  options: EncryptFieldsOptions,
): Promise<EncryptedModel> {
  if (
    typeof Model !== 'function' ||
    typeof (Model as { rawAttributes?: unknown }).rawAttributes !== 'object'
  ) {
    throw new CmekConfigError(
      'encryptFields needs a Sequelize model class (initialised with init or define)',
    );
  }
  if (
    typeof options !== 'object' ||
    options === null ||
    typeof options.envelope?.encryptMany !== 'function'
  ) {
    throw new CmekConfigError('encryptFields needs an options object with an envelope');
  }
  if (isConfigured(Model))
    throw new CmekConfigError(`encryptFields was already called for ${Model.name}`);
  const dialect = Model.sequelize?.getDialect() ?? '';
  const byAttribute = new Map<string, FieldConfig>();
  const byName = new Map<string, FieldConfig>();
  const checks: ColumnCheck[] = [];
  const defaultMax = positiveInteger(options.maxPlaintextBytes, 'maxPlaintextBytes');
  const entries = fieldEntries(options.fields);
  if (entries.length === 0) throw new CmekConfigError('encryptFields needs at least one field');
  for (const [attribute, fieldOptions] of entries) {
    const qualified = `${Model.name}.${attribute}`;
    const raw = Model.rawAttributes[attribute] as
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
    const field: FieldConfig = {
      attribute,
      column,
      qualified,
      display: qualified,
      context: fieldContext(Model.name, attribute, fieldOptions, `fields.${attribute}`),
      envelope: options.envelope,
      plaintextPolicy: options.plaintextPolicy,
    };
    byAttribute.set(attribute, field);
    byName.set(attribute, field);
    byName.set(column, field);
    const max = positiveInteger(fieldOptions.maxPlaintextBytes, `${qualified}.maxPlaintextBytes`);
    checks.push({
      qualified,
      type,
      maxPlaintextBytes: max ?? defaultMax ?? defaultMaxPlaintext(type),
    });
  }
  await checkColumns(options.envelope, checks, dialect);

  const config: ModelConfig = {
    model: Model,
    envelope: options.envelope,
    plaintextPolicy: options.plaintextPolicy,
    byAttribute,
    byName,
  };
  register(config);
  guardValidation(config);

  // The model's own view of the query interface (every write and finder of the model), and the
  // shared one intercepted for the model's table (seeders, data migrations, other models).
  const views = new WeakMap<object, QueryInterfaceLike>();
  Object.defineProperty(Model, 'queryInterface', {
    configurable: true,
    get() {
      const real = Model.sequelize!.getQueryInterface() as unknown as QueryInterfaceLike;
      let view = views.get(real);
      if (!view) {
        view = modelQueryInterface(real, originalsOf(real), config);
        views.set(real, view);
      }
      return view;
    },
  });
  const shared = Model.sequelize?.getQueryInterface() as unknown as QueryInterfaceLike | undefined;
  if (shared) originalsOf(shared);

  const fields = [...byAttribute.keys()];
  return {
    fields,
    contextFor(name: string): EncryptionContext {
      const field = byAttribute.get(name);
      if (!field) throw new CmekConfigError(`${Model.name}.${name} is not an encrypted field`);
      return { ...field.context };
    },
  };
}
