/**
 * The `cmek` CLI's config for the demo's database: the keyring and one row store per model. The
 * demo runs `cmek backfill`, `cmek rotate` and `cmek verify` with it, as an operator would.
 *
 * The demo passes its temporary paths in the environment:
 * - `CMEK_DEMO_DATABASE`: the SQLite file;
 * - `CMEK_DEMO_KEY_FILE`: the primary KEK file; `CMEK_DEMO_OLD_KEY_FILE` (optional): a KEK kept
 *   for reading only.
 */
import { dirname, join } from 'node:path';
import { sequelizeRowStore } from '@cmek/adapter-sequelize';
import { defineConfig } from '@cmek/cli';
import { CmekConfigError, createKeyring } from '@cmek/core';
import { createLocalKekProvider } from '@cmek/provider-local';
import { Sequelize } from 'sequelize';
import { type AppModels, defineTables, ENCRYPTED } from './src/models';

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new CmekConfigError(`cmek.config.ts needs ${name} (the demo sets it)`);
  return value;
}

const database = required('CMEK_DEMO_DATABASE');
const sequelize = new Sequelize({ dialect: 'sqlite', storage: database, logging: false });

export default defineConfig({
  keyring: async () => {
    const old = process.env.CMEK_DEMO_OLD_KEY_FILE;
    return createKeyring({
      primary: await createLocalKekProvider({ path: required('CMEK_DEMO_KEY_FILE') }),
      decryptOnly: old ? [await createLocalKekProvider({ path: old })] : [],
    });
  },
  // The same models and field names as the application's, so the contexts match.
  stores: () => {
    const models = defineTables(sequelize);
    return Object.entries(ENCRYPTED).map(([name, { fields }]) =>
      sequelizeRowStore(models[name as keyof AppModels], fields),
    );
  },
  close: () => sequelize.close(),
  // Beside the demo's database, not in the repository.
  checkpointDir: join(dirname(database), '.cmek'),
});
