/** `encryptFields`: turns on encryption for fields of a Sequelize model. */
import {
  CmekConfigError,
  type EncryptionContext,
  type Envelope,
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
  configOf,
  contextFor,
  type FieldConfig,
  type ModelConfig,
  register,
} from './config';
import { assertQueryable, type FindLike } from './guard';
import { wrapQueryInterface } from './query-interface';
import { decryptResults, type FindOptionsLike } from './read';

export interface EncryptedFieldOptions {
  /**
   * The fixed label bound into every value's encryption context instead of
   * `<Model name>.<attribute>`. Pin it to the old name before renaming a model or attribute:
   * values written under one label do not decrypt under another.
   */
  readonly label?: string;
  /** The longest plaintext the field holds, in UTF-8 bytes, for the column length check. */
  readonly maxPlaintextBytes?: number;
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

const HOOK = 'cmek';
const sequelizeHooked = new WeakSet<object>();

interface HookHost {
  addHook(type: string, name: string, fn: (...args: never[]) => unknown): unknown;
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

/** Decrypts included encrypted models under a model that has no encrypted field of its own. */
function hookSequelize(model: AnyModelStatic): void {
  const sequelize = model.sequelize as unknown as HookHost | undefined;
  if (!sequelize || sequelizeHooked.has(sequelize)) return;
  sequelizeHooked.add(sequelize);
  sequelize.addHook(
    'beforeFindAfterOptions',
    `${HOOK}:guard-includes`,
    function (this: unknown, options: FindLike) {
      if (configOf(this)) return; // the model's own query interface checks everything
      assertQueryable(undefined, options, (this as { name?: string }).name ?? '');
    },
  );
  sequelize.addHook(
    'afterFind',
    `${HOOK}:decrypt-includes`,
    async function (this: unknown, results: unknown, options: FindOptionsLike) {
      if (configOf(this)) return; // the model's own hook decrypted it all
      await decryptResults(results, options, this, false);
    },
  );
}

/**
 * Encrypts `fields` of `Model` on every write path and decrypts them on every read path:
 *
 * - writes: `create`, `save`, `update`, `bulkCreate` (with or without `individualHooks`,
 *   `updateOnDuplicate`), static `update` (with or without `individualHooks`), `upsert`,
 *   `findOrCreate`, with or without hooks: the values are encrypted in the model's query
 *   interface, the step every one of them goes through, after validation and after every hook;
 * - reads: every finder (`findAll`, `findOne`, `findByPk`, `findAndCountAll`, `reload`, `raw`,
 *   `attributes` subsets and aliases, `include` of encrypted models), through an `afterFind` hook
 *   that decrypts each field of a result set in one batch;
 * - a `where`, `order` or `group` on an encrypted field, and `increment` of one, throw
 *   `CmekQueryError`;
 * - a value that already is a token decrypting under this field's context is written as it is
 *   (nothing is encrypted twice); any other string starting with `cmek:` is refused with
 *   `CmekInvalidInputError` (no token of another field can be smuggled in).
 *
 * Checks at once (so it is async: it measures a token, one KEK call) that each column can hold
 * the ciphertext: `CmekConfigError` with the length needed. Call it right after defining the
 * model, before adding `afterFind` hooks that should see plaintext.
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
  if (configOf(Model))
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
    if (
      fieldOptions.label !== undefined &&
      (typeof fieldOptions.label !== 'string' || fieldOptions.label === '')
    ) {
      throw new CmekConfigError(`the label of ${qualified} must be a non-empty string`);
    }
    const column = typeof raw.field === 'string' ? raw.field : attribute;
    const field: FieldConfig = {
      attribute,
      column,
      qualified,
      context: contextFor(Model.name, attribute, fieldOptions.label),
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

  const wrappers = new WeakMap<object, Record<string, unknown>>();
  Object.defineProperty(Model, 'queryInterface', {
    configurable: true,
    get() {
      const real = Model.sequelize!.getQueryInterface() as unknown as Record<string, unknown>;
      let wrapped = wrappers.get(real);
      if (!wrapped) {
        wrapped = wrapQueryInterface(real, config);
        wrappers.set(real, wrapped);
      }
      return wrapped;
    },
  });
  (Model as unknown as HookHost).addHook(
    'afterFind',
    `${HOOK}:decrypt`,
    async (results: unknown, findOptions: FindOptionsLike) => {
      await decryptResults(results, findOptions, Model, false);
    },
  );
  hookSequelize(Model);

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
