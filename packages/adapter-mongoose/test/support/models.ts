/** The models of the integration tests: every kind of encrypted path the plugin supports. */
import type { Envelope } from '@cmek/core';
import { cmekPlugin } from '../../src/index';
import { at, type Database, expectToken, type Mongoose, rawIntegration } from './mongo';

export const FIELDS = [
  'slackToken',
  'settings.smtp.password',
  'profile.pin',
  'extra.apiKey',
  'webhooks.$.secret',
] as const;

export function ctx(path: string, model = 'Integration'): { field: string } {
  return { field: `${model}.${path}` };
}

/** Concrete raw path → the declared field it belongs to. */
export function fieldOf(path: string): string {
  return path.replace(/^webhooks\.\d+\.secret$/, 'webhooks.secret');
}

/** Asserts each concrete path of the stored document holds a token of that plaintext. */
export async function expectStored(
  db: Database,
  id: unknown,
  expected: Record<string, string>,
): Promise<Record<string, string>> {
  const doc = await rawIntegration(db, id);
  const tokens: Record<string, string> = {};
  for (const [path, plaintext] of Object.entries(expected)) {
    tokens[path] = await expectToken(db.envelope, at(doc, path), ctx(fieldOf(path)), plaintext);
  }
  return tokens;
}

export function integrationSchema(mongoose: Mongoose, envelope: Envelope) {
  const { Schema } = mongoose;
  const webhook = new Schema({ url: String, secret: String });
  const profile = new Schema({ pin: String, nick: String }, { _id: false });
  const schema = new Schema({
    name: String,
    slackToken: String,
    settings: { smtp: { host: String, password: String } },
    profile: profile,
    extra: Schema.Types.Mixed,
    webhooks: [webhook],
    counter: Number,
    owner: { type: Schema.Types.ObjectId, ref: 'Owner' },
  });
  schema.plugin(cmekPlugin, { envelope, fields: [...FIELDS] });
  return schema;
}

export function models(db: Database, mongoose: Mongoose) {
  const { Schema } = mongoose;
  const Integration = db.conn.model('Integration', integrationSchema(mongoose, db.envelope));
  const ownerSchema = new Schema({ email: String, apiKey: String });
  ownerSchema.plugin(cmekPlugin, { envelope: db.envelope, fields: ['apiKey'] });
  const Owner = db.conn.model('Owner', ownerSchema);
  return { Integration, Owner };
}

export const sample = () => ({
  name: 'acme',
  slackToken: 'xoxb-123',
  settings: { smtp: { host: 'smtp.example', password: 'smtp-pass' } },
  profile: { pin: '4242', nick: 'ac' },
  extra: { apiKey: 'mixed-key', region: 'eu' },
  webhooks: [
    { url: 'https://a.example', secret: 'whsec-a' },
    { url: 'https://b.example', secret: 'whsec-b' },
  ],
});
