/**
 * The tables of the identifier tests. `upper` names the same tables in upper case: on a
 * database that matches table names case-insensitively (SQLite; MySQL / MariaDB with
 * `lower_case_table_names`) they are the same tables; elsewhere (PostgreSQL, MariaDB on Linux by
 * default) they are created as tables of their own, which the adapter must treat as configured.
 */
import type { Knex } from 'knex';

export interface CaseTables {
  readonly secrets: string;
  readonly owners: string;
  /** Declares its encrypted column as `Secret_Value`; configured as `secret_value`. */
  readonly declared: string;
  /** PostgreSQL only: both a `token` and a `"Token"` column. */
  readonly twins: string;
  /** `secrets` and `owners` spelled in upper case. */
  readonly upper: { readonly secrets: string; readonly owners: string };
  /** Whether the upper-case names are tables of their own on this database. */
  readonly separate: boolean;
}

/** `unique` is the unique index's name: PostgreSQL's are per schema, and Knex lower-cases its own. */
async function createSecrets(knex: Knex, name: string, unique: string): Promise<void> {
  await knex.schema.createTable(name, (t) => {
    t.increments('id').primary();
    t.string('name', 64).notNullable().unique({ indexName: unique });
    t.integer('owner_id');
    t.text('token');
    t.text('note');
    t.integer('hits').defaultTo(0);
  });
}

async function createOwners(knex: Knex, name: string): Promise<void> {
  await knex.schema.createTable(name, (t) => {
    t.increments('id').primary();
    t.string('name', 64).notNullable();
    t.text('token');
  });
}

/** Whether the database resolves `name` to an existing table. */
async function resolves(knex: Knex, name: string): Promise<boolean> {
  return knex(name)
    .first('id')
    .then(
      () => true,
      () => false,
    );
}

export async function createCaseTables(
  knex: Knex,
  prefix: string,
  postgres: boolean,
): Promise<CaseTables> {
  const secrets = `${prefix}secrets`;
  const owners = `${prefix}owners`;
  const declared = `${prefix}declared`;
  const twins = `${prefix}twins`;
  const upper = { secrets: secrets.toUpperCase(), owners: owners.toUpperCase() };
  await createSecrets(knex, secrets, `${prefix}secrets_name`);
  await createOwners(knex, owners);
  await knex.schema.createTable(declared, (t) => {
    t.increments('id').primary();
    t.string('name', 64).notNullable();
    t.text('Secret_Value');
  });
  if (postgres) {
    await knex.schema.createTable(twins, (t) => {
      t.increments('id').primary();
      t.string('name', 64).notNullable();
      t.text('token');
      t.text('Token');
    });
  }
  const separate = !(await resolves(knex, upper.secrets));
  if (separate) {
    await createSecrets(knex, upper.secrets, `${prefix}upper_secrets_name`);
    await createOwners(knex, upper.owners);
  }
  return { secrets, owners, declared, twins, upper, separate };
}

export async function dropCaseTables(knex: Knex, t: CaseTables | undefined): Promise<void> {
  if (t === undefined) return;
  const names = [t.secrets, t.owners, t.declared, t.twins];
  if (t.separate) names.push(t.upper.secrets, t.upper.owners);
  for (const name of names) await knex.schema.dropTableIfExists(name);
}
