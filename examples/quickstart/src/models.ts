/**
 * The application's models: the secrets a SaaS keeps for its customers. `defineModels` is what
 * the application runs at start-up; `encryptFields` right after each `define` is the only cmek
 * line per model. `defineTables` is the same models without encryption turned on: what the
 * `cmek` CLI's config (`cmek.config.ts`) scans through `sequelizeRowStore`.
 */
import { encryptFields } from '@cmek/adapter-sequelize';
import type { Envelope } from '@cmek/core';
import { DataTypes, type Model, type ModelStatic, type Sequelize } from 'sequelize';

export interface AppModels {
  readonly IntegrationConnection: ModelStatic<Model>;
  readonly Webhook: ModelStatic<Model>;
  readonly UserProfile: ModelStatic<Model>;
  readonly Workspace: ModelStatic<Model>;
}

/** Each model, its table and its encrypted attributes: what the demo prints. */
export const ENCRYPTED = {
  IntegrationConnection: { table: 'integration_connections', fields: ['slackToken', 'jiraToken'] },
  Webhook: { table: 'webhooks', fields: ['signingSecret'] },
  UserProfile: { table: 'user_profiles', fields: ['totpSecret'] },
  // With Mongoose the secret lives in a nested path (`settings.smtp.password`) and the Mongoose
  // adapter encrypts that path; with Sequelize it is a column of its own.
  Workspace: { table: 'workspaces', fields: ['smtpPassword'] },
} as const satisfies Record<keyof AppModels, { table: string; fields: readonly string[] }>;

export function defineTables(sequelize: Sequelize): AppModels {
  const options = (tableName: string) => ({ tableName, underscored: true, timestamps: false });
  const IntegrationConnection = sequelize.define(
    'IntegrationConnection',
    {
      team: { type: DataTypes.STRING, allowNull: false },
      // A token is about 250 characters longer than its plaintext: TEXT columns hold any length.
      slackToken: DataTypes.TEXT,
      jiraToken: DataTypes.TEXT,
    },
    options(ENCRYPTED.IntegrationConnection.table),
  );
  const Webhook = sequelize.define(
    'Webhook',
    { url: { type: DataTypes.STRING, allowNull: false }, signingSecret: DataTypes.TEXT },
    options(ENCRYPTED.Webhook.table),
  );
  const UserProfile = sequelize.define(
    'UserProfile',
    { email: { type: DataTypes.STRING, allowNull: false }, totpSecret: DataTypes.TEXT },
    options(ENCRYPTED.UserProfile.table),
  );
  const Workspace = sequelize.define(
    'Workspace',
    {
      name: { type: DataTypes.STRING, allowNull: false },
      smtpHost: DataTypes.STRING,
      smtpPassword: DataTypes.TEXT,
    },
    options(ENCRYPTED.Workspace.table),
  );

  return { IntegrationConnection, Webhook, UserProfile, Workspace };
}

export async function defineModels(sequelize: Sequelize, envelope: Envelope): Promise<AppModels> {
  const models = defineTables(sequelize);
  for (const [name, { fields }] of Object.entries(ENCRYPTED)) {
    await encryptFields(models[name as keyof AppModels], { envelope, fields: [...fields] });
  }
  return models;
}
