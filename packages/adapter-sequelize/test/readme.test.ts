/**
 * The README's usage example runs as written: its model definition and its `encryptFields`
 * options, read from the README itself, on SQLite, PostgreSQL and MariaDB (with a local KEK in
 * place of the key file).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CmekQueryError, type Envelope } from '@cmek/core';
import { DataTypes, type Model, type ModelAttributes, type ModelStatic } from 'sequelize';
import { describe, expect, it } from 'vitest';
import { type EncryptFieldsOptions, encryptFields } from '../src/index';
import { connect, DATABASES, envelopeFor, newKek, rawRow, uniqueTable } from './support';

const README = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
const USAGE = /## Usage\n[\s\S]*?```ts\n([\s\S]*?)```/.exec(README)?.[1] ?? '';

/** The object literal passed as `call`'s last argument in the usage example, evaluated. */
function argumentOf(call: string, scope: Record<string, unknown>): unknown {
  const at = USAGE.indexOf(call);
  expect(at, `${call} in the README's usage example`).toBeGreaterThanOrEqual(0);
  const start = USAGE.indexOf('{', at);
  let depth = 0;
  let end = start;
  for (; end < USAGE.length; end++) {
    if (USAGE[end] === '{') depth++;
    if (USAGE[end] === '}' && --depth === 0) break;
  }
  const literal = USAGE.slice(start, end + 1);
  return new Function(...Object.keys(scope), `return (${literal}\n);`)(...Object.values(scope));
}

/** A token's length for an `n`-byte value with a local KEK, as the README states it. */
const tokenLength = (n: number) => 4 * Math.ceil((73 + 16 * Math.floor(n / 16)) / 3) + 146;

for (const db of DATABASES) {
  describe.skipIf(!db.url)(`the README (${db.dialect})`, () => {
    it('the usage example runs as written', async () => {
      const sequelize = connect(db);
      const table = uniqueTable('readme');
      const { envelope } = envelopeFor(newKek());
      let Integration: ModelStatic<Model> | undefined;
      try {
        const attributes = argumentOf("sequelize.define('Integration',", {
          DataTypes,
        }) as ModelAttributes;
        const options = argumentOf('await encryptFields(Integration,', {
          envelope,
        }) as EncryptFieldsOptions & { envelope: Envelope };
        Integration = sequelize.define('Integration', attributes, { tableName: table });
        await encryptFields(Integration, options);
        await Integration.sync({ force: true });

        const secret = 'w'.repeat(255); // the longest webhook secret the example sizes for
        const row = await Integration.create({
          name: 'acme',
          slackToken: 'xoxb-…',
          webhookSecret: secret,
        });
        const stored = (await rawRow(sequelize, table, row.get('id')))!;
        expect(String(stored.slackToken)).toMatch(/^cmek:v1:/);
        expect(String(stored.webhookSecret)).toHaveLength(tokenLength(255));
        const found = await Integration.findOne({ where: { name: 'acme' } });
        expect(found?.get('slackToken')).toBe('xoxb-…');
        expect(found?.get('webhookSecret')).toBe(secret);
        await expect(Integration.findAll({ where: { slackToken: 'xoxb-…' } })).rejects.toSatisfy(
          CmekQueryError.isInstance.bind(CmekQueryError),
        );
      } finally {
        await Integration?.drop().catch(() => undefined);
        await sequelize.close();
      }
    });
  });
}

describe('the README', () => {
  it('gives the length of a token as a local KEK makes it', async () => {
    expect(README).toContain('`4 × ceil((73 + 16 × floor(n / 16)) / 3) + 146` characters');
    const { envelope } = envelopeFor(newKek());
    for (const n of [0, 1, 15, 16, 40, 255, 600, 1000, 4096]) {
      const token = await envelope.encrypt('x'.repeat(n), { context: { field: 'A.b' } });
      expect(token.length, `${n} bytes`).toBe(tokenLength(n));
    }
    for (const [n, length] of [
      [40, '286'],
      [255, '566'],
      [600, '1,034'],
      [1000, '1,566'],
    ] as const) {
      expect(README).toContain(`${n === 40 ? '40 bytes' : n.toLocaleString('en')} → ${length}`);
      expect(tokenLength(n).toLocaleString('en')).toBe(length);
    }
  });
});
