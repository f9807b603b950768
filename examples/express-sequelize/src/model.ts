/**
 * The one model of the API: an integration a team connected, with the provider's tokens. The
 * `encryptFields` call right after `define` is the only cmek line: from then on every write
 * stores a `cmek:v1:` token in `access_token` / `refresh_token` and every read gives plaintext.
 */
import { encryptFields } from '@cmek/adapter-sequelize';
import type { Envelope } from '@cmek/core';
import {
  type CreationOptional,
  DataTypes,
  type InferAttributes,
  type InferCreationAttributes,
  type Model,
  type ModelStatic,
  type Sequelize,
} from 'sequelize';

export const PROVIDERS = ['slack', 'jira', 'github'] as const;
export type Provider = (typeof PROVIDERS)[number];

export interface IntegrationConnection
  extends Model<
    InferAttributes<IntegrationConnection>,
    InferCreationAttributes<IntegrationConnection>
  > {
  id: CreationOptional<number>;
  team: string;
  provider: Provider;
  accessToken: string;
  refreshToken: string | null;
  createdAt: CreationOptional<Date>;
  updatedAt: CreationOptional<Date>;
}

export type IntegrationConnectionModel = ModelStatic<IntegrationConnection>;

export const ENCRYPTED_FIELDS = ['accessToken', 'refreshToken'] as const;

export async function defineIntegrationConnection(
  sequelize: Sequelize,
  envelope: Envelope,
): Promise<IntegrationConnectionModel> {
  const IntegrationConnection = sequelize.define<IntegrationConnection>(
    'IntegrationConnection',
    {
      id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
      team: { type: DataTypes.STRING(100), allowNull: false },
      provider: { type: DataTypes.STRING(20), allowNull: false },
      // A token is about 250 characters longer than its plaintext: TEXT holds any length.
      accessToken: { type: DataTypes.TEXT, allowNull: false },
      refreshToken: { type: DataTypes.TEXT, allowNull: true },
      createdAt: DataTypes.DATE,
      updatedAt: DataTypes.DATE,
    },
    { tableName: 'integration_connections', underscored: true },
  );
  await encryptFields(IntegrationConnection, { envelope, fields: [...ENCRYPTED_FIELDS] });
  return IntegrationConnection;
}
