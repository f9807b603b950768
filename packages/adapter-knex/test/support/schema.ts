/** The tables the adapter tests use, created under a unique prefix on each database. */
import type { Knex } from 'knex';

export interface Tables {
  readonly secrets: string;
  readonly owners: string;
  readonly plain: string;
}

export async function createTables(knex: Knex, prefix: string): Promise<Tables> {
  const t: Tables = {
    secrets: `${prefix}secrets`,
    owners: `${prefix}owners`,
    plain: `${prefix}plain`,
  };
  await dropTables(knex, t);
  await knex.schema.createTable(t.owners, (table) => {
    table.increments('id').primary();
    table.string('name', 64).notNullable();
    table.text('token');
  });
  await knex.schema.createTable(t.secrets, (table) => {
    table.increments('id').primary();
    table.string('name', 64).notNullable().unique();
    table.integer('owner_id');
    table.text('token');
    table.text('note');
    table.integer('hits').defaultTo(0);
  });
  await knex.schema.createTable(t.plain, (table) => {
    table.increments('id').primary();
    table.string('name', 64);
    table.text('token');
  });
  return t;
}

export async function dropTables(knex: Knex, t: Tables): Promise<void> {
  for (const name of [t.secrets, t.owners, t.plain]) await knex.schema.dropTableIfExists(name);
}
