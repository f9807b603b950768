/** `encryptFields`: turns on encryption for fields of a Sequelize model. */
import { CmekConfigError, type EncryptionContext, tenantContext } from '@cmek/core';
import { type ColumnCheck, checkColumns } from './column-check';
import { guardValidation } from './model-validation';
import {
  type AnyModelStatic,
  type EncryptFieldsOptions,
  normaliseOptions,
  register,
  type TenantConfig,
} from './options';
import { modelQueryInterface, type QueryInterfaceLike } from './query-interface';
import { originalsOf } from './shared-query-interface';

export interface EncryptedModel {
  /** The encrypted attributes. */
  readonly fields: readonly string[];
  /** The encryption context values of `field` are bound to (in a row of `tenant`, with `tenantColumn`). */
  contextFor(field: string, tenant?: string): EncryptionContext;
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
 *   (`max`, `min`, `sum`, `fn(...)`), and `increment` of one, throw `CmekQueryError`; except,
 *   on a field with a `blindIndex`, an equality or `Op.in` filter: it is answered on the index
 *   attribute, which every write above keeps in step with the value (a write of the index
 *   attribute itself is refused);
 * - a value that already is a token decrypting under this field's context is written as it is
 *   (nothing is encrypted twice); any other string starting with `cmek:` is refused with
 *   `CmekInvalidInputError` (no token of another field can be smuggled in).
 *
 * Checks at once (so it is async: it measures a token, one KEK call) that each column can hold
 * the ciphertext: `CmekConfigError` with the length needed. Call it right after defining the
 * model, before the first query.
 */
/** The context a tenant model's column check measures under: `measureTenant`'s, required if any field is checked. */
function measureContext(
  tenant: TenantConfig | undefined,
  measureTenant: string | undefined,
  checks: readonly ColumnCheck[],
): EncryptionContext | undefined {
  if (tenant === undefined || !checks.some((c) => c.maxPlaintextBytes !== undefined))
    return undefined;
  if (measureTenant === undefined || measureTenant === '') {
    const checked = checks.find((c) => c.maxPlaintextBytes !== undefined)!;
    throw new CmekConfigError(
      `${checked.qualified}'s column length is checked by measuring a token, which under tenantColumn needs a tenant: give \`measureTenant\` (any tenant the envelope resolves), or use a TEXT column`,
    );
  }
  return { [tenant.key]: measureTenant };
}

export async function encryptFields(
  Model: AnyModelStatic,
  options: EncryptFieldsOptions,
): Promise<EncryptedModel> {
  const { config, checks } = normaliseOptions(Model, options);
  await checkColumns(
    options.envelope,
    checks,
    Model.sequelize?.getDialect() ?? '',
    measureContext(config.tenant, options.measureTenant, checks),
  );
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

  const fields = [...config.byAttribute.keys()];
  return {
    fields,
    contextFor(name: string, tenant?: string): EncryptionContext {
      const field = config.byAttribute.get(name);
      if (!field) throw new CmekConfigError(`${Model.name}.${name} is not an encrypted field`);
      return { ...tenantContext(field.context, field.tenant?.key, tenant) };
    },
  };
}
