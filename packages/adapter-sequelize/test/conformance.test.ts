/** The shared adapter conformance suite, on SQLite, PostgreSQL and MariaDB. */
import { adapterConformanceSuite, type FieldValues, type RowId } from '@cmek/test-suite';
import { DataTypes, type Model, type ModelStatic, Op, type Sequelize } from 'sequelize';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { encryptFields } from '../src/index';
import { connect, DATABASES, envelopeFor, newKek, rawRow, rawUpdate, uniqueTable } from './support';

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
    const table = uniqueTable('conformance');
    adapterConformanceSuite(
      { describe, it, beforeAll, afterAll },
      {
        async setup() {
          sequelize = connect(db);
          const { envelope } = envelopeFor(newKek());
          M = sequelize.define(
            'Conformance',
            {
              secret: { type: DataTypes.TEXT('long'), field: 'secret_col' },
              note: DataTypes.TEXT('long'),
            },
            { tableName: table, timestamps: false },
          );
          const encrypted = await encryptFields(M, { envelope, fields: [...FIELDS] });
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
          };
        },
        async cleanup() {
          await M?.drop().catch(() => undefined);
          await sequelize?.close();
        },
      },
      { name: `adapter conformance: sequelize (${db.dialect})`, timeoutMs: 60_000 },
    );
  });
}
