/**
 * Sequelize's model validation, before the query interface: every write path of a model
 * validates an instance (`save`, `create`, `upsert`, `findOrCreate`, static `update`,
 * `bulkCreate` with `validate`) through `instance.validate`, with hooks or without. Wrapped here
 * on the model's prototype, it refuses a value an encrypted field cannot take before any hook,
 * cast or validator can put it in a message, and takes the plaintext out of the
 * `ValidationError` a validator raises.
 */
import type { FieldSet, ModelConfig } from './options';
import { redactError } from './redact';
import { isInstance, textOf } from './values';
import { assertWritable } from './write';

type Validate = (this: unknown, options?: unknown) => Promise<unknown>;
type BulkCreate = (this: unknown, records?: unknown, options?: unknown) => Promise<unknown>;

/** The plaintexts of the encrypted fields in `records` (data values or plain objects). */
export function plaintextsOf(config: FieldSet, records: readonly unknown[]): string[] {
  const out: string[] = [];
  for (const record of records) {
    const values = isInstance(record) ? record.dataValues : record;
    if (typeof values !== 'object' || values === null) continue;
    for (const name of config.byName.keys()) {
      const value = (values as Record<string, unknown>)[name];
      if (typeof value === 'string' || value instanceof Uint8Array) out.push(textOf(value));
    }
  }
  return out;
}

/** Refuses a value an encrypted field cannot take, in an instance or a record of attributes. */
function assertValues(config: ModelConfig, record: unknown): void {
  const values = isInstance(record) ? record.dataValues : record;
  if (typeof values !== 'object' || values === null) return;
  for (const field of config.byAttribute.values())
    assertWritable(field, (values as Record<string, unknown>)[field.attribute]);
}

/** Installs the checks on `config.model` (and so on its `Model.schema()` copies). */
export function guardValidation(config: ModelConfig): void {
  const Model = config.model as unknown as {
    prototype: { validate: Validate };
    bulkCreate: BulkCreate;
  };
  const names = [...config.byName.keys()];
  const validate = Model.prototype.validate;
  Object.defineProperty(Model.prototype, 'validate', {
    configurable: true,
    writable: true,
    enumerable: false,
    value: async function validateEncrypted(this: unknown, options?: unknown) {
      assertValues(config, this);
      try {
        return await validate.call(this, options);
      } catch (error) {
        // A value a beforeValidate hook set: the validator's error may show it; refuse it instead.
        assertValues(config, this);
        throw redactError(error, plaintextsOf(config, [this]), names);
      }
    },
  });
  // `bulkCreate` gathers the instances' validation errors in an AggregateError of its own.
  const bulkCreate = Model.bulkCreate;
  Object.defineProperty(Model, 'bulkCreate', {
    configurable: true,
    writable: true,
    enumerable: false,
    value: async function bulkCreateEncrypted(this: unknown, records?: unknown, options?: unknown) {
      // Checked first: with `validate` the errors would come back wrapped in an AggregateError.
      for (const record of Array.isArray(records) ? records : []) assertValues(config, record);
      try {
        return await bulkCreate.call(this, records, options);
      } catch (error) {
        const list = Array.isArray(records) ? records : [];
        throw redactError(error, plaintextsOf(config, list), names);
      }
    },
  });
}
