/**
 * The per-field options every adapter shares: `context` (the deprecated `label` still works, as
 * the same context) and `maxPlaintextBytes`; the row store's `contexts` (deprecated: `labels`).
 */
import { CmekConfigError } from '@cmek/core';
import { DataTypes, type ModelStatic, type Model as SequelizeModel } from 'sequelize';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { encryptFields, sequelizeRowStore } from '../src/index';
import { connect, DATABASES, envelopeFor, newKek, rawRow } from './support';

const sqlite = DATABASES.find((db) => db.dialect === 'sqlite')!;

describe('field options', () => {
  const sequelize = connect(sqlite);
  const { envelope } = envelopeFor(newKek());
  afterAll(() => sequelize.close());

  let n = 0;
  const model = (): ModelStatic<SequelizeModel> =>
    sequelize.define(`Account${++n}`, { apiKey: DataTypes.TEXT }, { tableName: `accounts_${n}` });

  it('context binds the values; the deprecated label is the same context, with one warning', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const byContext = model();
    const byLabel = model();
    const viaContext = await encryptFields(byContext, {
      envelope,
      fields: { apiKey: { context: { field: 'accounts.api_key' } } },
    });
    const viaLabel = await encryptFields(byLabel, {
      envelope,
      fields: { apiKey: { label: 'accounts.api_key' } },
    });
    expect(viaContext.contextFor('apiKey')).toEqual({ field: 'accounts.api_key' });
    expect(viaLabel.contextFor('apiKey')).toEqual({ field: 'accounts.api_key' });
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]![1]).toMatchObject({
      type: 'DeprecationWarning',
      code: 'CMEK_DEP_SEQUELIZE_LABEL',
    });
    warn.mockRestore();
    // a value written under the context reads back through the model configured with the label
    await byContext.sync({ force: true });
    const row = await byContext.create({ apiKey: 'ak-4711' });
    const stored = (await rawRow(sequelize, byContext.tableName, row.get('id')))!.apiKey;
    expect(String(stored).startsWith('cmek:v1:')).toBe(true);
    expect(await envelope.decrypt(String(stored), { context: viaLabel.contextFor('apiKey') })).toBe(
      'ak-4711',
    );
  });

  it.each([
    ['context and label together', { context: { field: 'a' }, label: 'a' }],
    ['a context that is not an object', { context: 'accounts.api_key' }],
    ['a context with a lone surrogate', { context: { field: '\uD800' } }],
    ['a maxPlaintextBytes that is not an integer', { maxPlaintextBytes: 1.5 }],
  ])('%s is a CmekConfigError at setup', async (_what, options) => {
    await expect(
      encryptFields(model(), { envelope, fields: { apiKey: options as never } }),
    ).rejects.toBeInstanceOf(CmekConfigError);
  });

  it('the row store takes contexts (and the deprecated labels) for a model without encryptFields', () => {
    const plain = model();
    expect(
      sequelizeRowStore(plain, ['apiKey'], {
        contexts: { apiKey: { field: 'x.y', tenant: 't' } },
      }).contextFor('apiKey'),
    ).toEqual({ field: 'x.y', tenant: 't' });
    expect(
      sequelizeRowStore(plain, ['apiKey'], { labels: { apiKey: 'x.y' } }).contextFor('apiKey'),
    ).toEqual({ field: 'x.y' });
    expect(sequelizeRowStore(plain, ['apiKey']).contextFor('apiKey')).toEqual({
      field: `${plain.name}.apiKey`,
    });
  });
});
