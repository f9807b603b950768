/**
 * Test configs over the other adapters' row stores: `sequelizeRowStore` (SQLite through
 * `sqlite3`, or PostgreSQL) and `mongooseRowStore` (a MongoDB-protocol server), each keyring of
 * local KEK files (see `fixture-config.ts`, whose `configSource` is the Knex counterpart).
 */
import { cmekPlugin, mongooseRowStore } from '@cmek/adapter-mongoose';
import { sequelizeRowStore } from '@cmek/adapter-sequelize';
import { createEnvelope, createKeyring, type Envelope, type RowStore } from '@cmek/core';
import mongoose, { type Connection, type Model } from 'mongoose';
import { DataTypes, Sequelize } from 'sequelize';
import { defineConfig } from '../../src/index';
import { type KeySpec, providerOf } from './fixture-config';
import { duplicatingStore } from './stores';

export interface SequelizeFixture {
  readonly dialect: 'sqlite' | 'postgres';
  /** A file path (SQLite, through `sqlite3`) or a URL (PostgreSQL). */
  readonly connection: string;
  /** The table, with an integer `id` primary key; also the store's name. */
  readonly table: string;
  /** TEXT columns, the store's fields. */
  readonly columns: readonly string[];
  readonly primary: KeySpec;
}

export interface MongooseFixture {
  readonly url: string;
  readonly dbName: string;
  /** The collection (ObjectId `_id`s); the model and the store are named after it. */
  readonly collection: string;
  /** String paths of the schema, all encrypted by the plugin, the store's fields. */
  readonly paths: readonly string[];
  readonly primary: KeySpec;
  /**
   * `duplicating`: before each compare-and-set, another document is inserted holding the value
   * about to be written, so that a unique index on the path makes the server refuse the write.
   */
  readonly wrap?: 'duplicating';
}

async function keyringOf(primary: KeySpec) {
  return createKeyring({ primary: await providerOf(primary) });
}

/** A Sequelize model over `table` and the adapter's `sequelizeRowStore` of its columns. */
export function makeSequelizeConfig(options: SequelizeFixture) {
  let sequelize: Sequelize | undefined;
  return defineConfig({
    keyring: () => keyringOf(options.primary),
    stores: () => {
      const db =
        options.dialect === 'sqlite'
          ? new Sequelize({ dialect: 'sqlite', storage: options.connection, logging: false })
          : new Sequelize(options.connection, { dialect: 'postgres', logging: false });
      sequelize = db;
      const Model = db.define(
        options.table,
        {
          id: { type: DataTypes.INTEGER, primaryKey: true },
          ...Object.fromEntries(options.columns.map((c) => [c, DataTypes.TEXT])),
        },
        { tableName: options.table, timestamps: false },
      );
      return [sequelizeRowStore(Model, options.columns, { name: options.table })];
    },
    close: async () => {
      await sequelize?.close();
      sequelize = undefined;
    },
  });
}

/** A Mongoose model with `cmekPlugin` over `collection`, and the adapter's `mongooseRowStore`. */
export function makeMongooseConfig(options: MongooseFixture) {
  let conn: Connection | undefined;
  let envelope: Envelope | undefined;
  return defineConfig({
    keyring: () => keyringOf(options.primary),
    stores: async () => {
      conn = mongoose.createConnection(options.url, { dbName: options.dbName });
      await conn.asPromise();
      // The application's plugin options; the row store reads and writes around the plugin.
      envelope = createEnvelope({ kek: await providerOf(options.primary) });
      const schema = new mongoose.Schema(
        Object.fromEntries(options.paths.map((p) => [p, String])),
        { collection: options.collection, autoIndex: false, autoCreate: false },
      );
      schema.plugin(cmekPlugin, { envelope, fields: [...options.paths] });
      // (a schema of paths known at run time: its document type is not worth inferring)
      const model = conn.model(options.collection, schema) as unknown as Model<unknown>;
      const store: RowStore = mongooseRowStore(model, options.paths);
      if (options.wrap !== 'duplicating') return [store];
      const raw = conn.db!.collection(options.collection);
      return [duplicatingStore(store, (field, value) => raw.insertOne({ [field]: value }))];
    },
    close: async () => {
      await conn?.close();
      await envelope?.close();
      conn = undefined;
      envelope = undefined;
    },
  });
}

/** The text of a `cmek.config.ts` calling one of the factories above. */
export function ormConfigSource(
  ...[factory, options]:
    | [factory: 'makeSequelizeConfig', options: SequelizeFixture]
    | [factory: 'makeMongooseConfig', options: MongooseFixture]
): string {
  const self = new URL(import.meta.url).pathname;
  return `import { ${factory} } from ${JSON.stringify(self)};\nexport default ${factory}(${JSON.stringify(options)});\n`;
}
