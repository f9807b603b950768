/** Shared by the tests: real databases, a counting KEK provider, raw reads around the ORM. */
import { randomBytes } from 'node:crypto';
import { createEnvelope, type DekCacheOptions, type Envelope } from '@cmek/core';
import { createLocalKekProviderFromKey } from '@cmek/provider-local';
import { kekCallCounter, serviceUrl } from '@cmek/test-suite';
import { QueryTypes, Sequelize } from 'sequelize';

export interface Database {
  readonly dialect: 'sqlite' | 'postgres' | 'mariadb';
  /** undefined: the service is not running (skip; under CI=true serviceUrl throws instead). */
  readonly url: string | undefined;
}

export const DATABASES: readonly Database[] = [
  { dialect: 'sqlite', url: 'sqlite::memory:' },
  {
    dialect: 'postgres',
    url: serviceUrl({
      name: 'PostgreSQL',
      env: 'CMEK_PG_URL',
      start: 'scripts/services/up.sh postgres',
    }),
  },
  {
    dialect: 'mariadb',
    url: serviceUrl({
      name: 'MariaDB',
      env: 'CMEK_MYSQL_URL',
      start: 'scripts/services/up.sh mariadb',
    }),
  },
];

export function connect(db: Database): Sequelize {
  if (db.dialect === 'sqlite')
    return new Sequelize({ dialect: 'sqlite', storage: ':memory:', logging: false });
  return new Sequelize(db.url!, { logging: false, pool: { max: 5 } });
}

/** A table name no other test file (running at the same time on the same server) uses. */
export function uniqueTable(base: string): string {
  return `${base}_${randomBytes(4).toString('hex')}`;
}

export interface Counts {
  readonly generate: number;
  readonly unwrap: number;
}

export function newKek(): Uint8Array {
  return new Uint8Array(randomBytes(32));
}

/** An envelope over the real local provider, its KEK calls counted from the core's events. */
export function envelopeFor(
  kek: Uint8Array,
  dekCache?: DekCacheOptions,
): { envelope: Envelope; counts: Counts } {
  const counter = kekCallCounter();
  const envelope = createEnvelope({
    kek: createLocalKekProviderFromKey(kek),
    onEvent: counter.onEvent,
    ...(dekCache ? { dekCache } : {}),
  });
  const counts: Counts = {
    get generate() {
      return counter.counts.generateDataKey;
    },
    get unwrap() {
      return counter.counts.unwrap + counter.counts.unwrapMany;
    },
  };
  return { envelope, counts };
}

export interface Calls {
  decrypt: number;
  decryptMany: number;
  /** Values the decryptMany calls carried. */
  values: number;
  encryptMany: number;
}

/** The envelope, counting the calls the adapter makes into it to encrypt and decrypt. */
export function counting(envelope: Envelope): { envelope: Envelope; calls: Calls } {
  const calls: Calls = { decrypt: 0, decryptMany: 0, values: 0, encryptMany: 0 };
  const spy: Envelope = Object.create(envelope) as Envelope;
  Object.assign(spy, {
    decrypt: (...args: Parameters<Envelope['decrypt']>) => {
      calls.decrypt++;
      return envelope.decrypt(...args);
    },
    decryptMany: (...args: Parameters<Envelope['decryptMany']>) => {
      calls.decryptMany++;
      calls.values += args[0].length;
      return envelope.decryptMany(...args);
    },
    encryptMany: (...args: Parameters<Envelope['encryptMany']>) => {
      calls.encryptMany++;
      return envelope.encryptMany(...args);
    },
  });
  return { envelope: spy, calls };
}

/** The calls `run` makes, counted on `calls` (from `counting`). */
export async function callsDuring(calls: Calls, run: () => Promise<unknown>): Promise<Calls> {
  const before = { ...calls };
  await run();
  return {
    decrypt: calls.decrypt - before.decrypt,
    decryptMany: calls.decryptMany - before.decryptMany,
    values: calls.values - before.values,
    encryptMany: calls.encryptMany - before.encryptMany,
  };
}

/** The stored row, read with a plain SQL query: no model, no hooks, no adapter. */
export async function rawRow(
  sequelize: Sequelize,
  table: string,
  id: unknown,
): Promise<Record<string, unknown> | undefined> {
  const q = sequelize.getQueryInterface().quoteIdentifier(table);
  const rows = await sequelize.query<Record<string, unknown>>(`SELECT * FROM ${q} WHERE id = ?`, {
    replacements: [id],
    type: QueryTypes.SELECT,
  });
  return rows[0];
}

export async function rawRows(
  sequelize: Sequelize,
  table: string,
): Promise<Record<string, unknown>[]> {
  const q = sequelize.getQueryInterface().quoteIdentifier(table);
  return sequelize.query<Record<string, unknown>>(`SELECT * FROM ${q} ORDER BY id`, {
    type: QueryTypes.SELECT,
  });
}

export async function rawUpdate(
  sequelize: Sequelize,
  table: string,
  id: unknown,
  column: string,
  value: string | null,
): Promise<void> {
  const qi = sequelize.getQueryInterface();
  await sequelize.query(
    `UPDATE ${qi.quoteIdentifier(table)} SET ${qi.quoteIdentifier(column)} = ? WHERE id = ?`,
    {
      replacements: [value, id],
    },
  );
}

/** A whole `cmek:v1` token: kek record, 22-character salt, padded Fernet part. */
export const TOKEN = /^cmek:v1:[A-Za-z0-9_-]+\|[A-Za-z0-9_-]{22}\|[A-Za-z0-9_=-]+$/;

export const UNICODE = 'pässwörd — 秘密の鍵 🔑👩‍💻 שלום';
export const BIG = randomBytes(48 * 1024).toString('base64');
