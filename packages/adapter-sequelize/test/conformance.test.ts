/** The shared adapter conformance suite, on SQLite, PostgreSQL and MariaDB. */
import {
  type BlindIndexer,
  createBlindIndexKey,
  createEnvelope,
  loadBlindIndexes,
} from '@cmek/core';
import { createLocalKekProviderFromKey } from '@cmek/provider-local';
import { adapterConformanceSuite, type FieldValues, type RowId } from '@cmek/test-suite';
import { DataTypes, type Model, type ModelStatic, Op, type Sequelize } from 'sequelize';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { encryptFields } from '../src/index';
import { connect, DATABASES, newKek, rawRow, rawUpdate, uniqueTable } from './support';

const FIELDS = ['secret', 'note'] as const;

function valuesOf(row: Record<string, unknown>, keys: Record<string, string>): FieldValues {
  const out: Record<string, string | null> = {};
  for (const [field, key] of Object.entries(keys))
    out[field] = (row[key] as string | null | undefined) ?? null;
  return out;
}

for (const db of DATABASES) {
  describe.skipIf(!db.url)(`conformance (${db.dialect})`, () => {
    let sequelize: Sequelize;
    let M: ModelStatic<Model>;
    let indexer: BlindIndexer | undefined;
    const table = uniqueTable('conformance');
    adapterConformanceSuite(
      { describe, it, beforeAll, afterAll },
      {
        async setup() {
          sequelize = connect(db);
          const kek = createLocalKekProviderFromKey(newKek());
          const envelope = createEnvelope({ kek });
          indexer = await loadBlindIndexes({ keys: [await createBlindIndexKey(kek)], kek });
          M = sequelize.define(
            'Conformance',
            {
              secret: { type: DataTypes.TEXT('long'), field: 'secret_col' },
              note: DataTypes.TEXT('long'),
              tokenHash: { type: DataTypes.TEXT, field: 'token_hash' },
              tokenHashBidx: { type: DataTypes.STRING(80), field: 'token_hash_bidx', unique: true },
            },
            { tableName: table, timestamps: false },
          );
          const index = { column: 'tokenHashBidx' };
          const encrypted = await encryptFields(M, {
            envelope,
            indexer,
            fields: { secret: {}, note: {}, tokenHash: { blindIndex: index } },
          });
          await M.sync({ force: true });
          return {
            envelope,
            fields: FIELDS,
            contextFor: (field) => encrypted.contextFor(field),
            async insert(values) {
              return (await M.create({ ...values })).get('id') as RowId;
            },
            async insertMany(rows) {
              const created = await M.bulkCreate(rows.map((r) => ({ ...r })));
              if (created.every((r) => r.get('id') != null))
                return created.map((r) => r.get('id') as RowId);
              // MariaDB returns only the first id of a multi-row insert
              const latest = await M.findAll({
                attributes: ['id'],
                order: [['id', 'DESC']],
                limit: rows.length,
              });
              return latest.map((r) => r.get('id') as RowId).reverse();
            },
            async update(id, patch) {
              await M.update({ ...patch }, { where: { id } });
            },
            async read(id) {
              const row = await M.findByPk(id);
              return row
                ? valuesOf(row.get({ plain: true }) as Record<string, unknown>, {
                    secret: 'secret',
                    note: 'note',
                  })
                : null;
            },
            async readAll() {
              const rows = await M.findAll({ order: [['id', 'ASC']] });
              return rows.map((r) => ({
                id: r.get('id') as RowId,
                values: valuesOf(r.get({ plain: true }) as Record<string, unknown>, {
                  secret: 'secret',
                  note: 'note',
                }),
              }));
            },
            async rawRow(id) {
              const row = await rawRow(sequelize, table, id);
              return row ? valuesOf(row, { secret: 'secret_col', note: 'note' }) : null;
            },
            async writeRaw(id, values) {
              for (const [field, value] of Object.entries(values)) {
                await rawUpdate(
                  sequelize,
                  table,
                  id,
                  field === 'secret' ? 'secret_col' : field,
                  value,
                );
              }
            },
            async whereOnEncrypted(field, value) {
              return M.findAll({ where: { [Op.or]: [{ id: 0 }, { [field]: value }] } });
            },
            blindIndex: {
              field: 'tokenHash',
              index,
              indexer,
              async findBy(value) {
                const rows = await M.findAll({ where: { tokenHash: value }, attributes: ['id'] });
                return rows.map((r) => r.get('id') as RowId);
              },
              async findIn(values) {
                const rows = await M.findAll({
                  where: { tokenHash: { [Op.in]: [...values] } },
                  attributes: ['id'],
                });
                return rows.map((r) => r.get('id') as RowId);
              },
              async rawIndexed(id) {
                const row = await rawRow(sequelize, table, id);
                return row
                  ? {
                      value: (row.token_hash as string | null) ?? null,
                      index: (row.token_hash_bidx as string | null) ?? null,
                    }
                  : null;
              },
            },
          };
        },
        blindIndex: true,
        async cleanup() {
          indexer?.close();
          await M?.drop().catch(() => undefined);
          await sequelize?.close();
        },
      },
      { name: `adapter conformance: sequelize (${db.dialect})`, timeoutMs: 60_000 },
    );
  });
}
