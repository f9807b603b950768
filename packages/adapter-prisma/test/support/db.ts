/**
 * The PostgreSQL database of one test file: its own schema (`prisma_<tag>_<pid>_<n>`, the server
 * is shared with other helpers' tests), the tables of test/prisma/schema.prisma created with SQL
 * (the Prisma CLI's migrate needs the schema engine, which these tests do not fetch), a plain
 * `pg` client to read and write around the ORM, and a plain PrismaClient on the schema.
 */
import {
  type BlindIndexer,
  createBlindIndexKey,
  createEnvelope,
  type Envelope,
  loadBlindIndexes,
} from '@cmek/core';
import { type MemoryKekProvider, serviceUrl } from '@cmek/test-suite';
import { PrismaPg } from '@prisma/adapter-pg';
import pg, { type Client as PgClient } from 'pg';
import { cmekExtension } from '../../src/index';
import { PrismaClient } from '../generated/client';
import { countingProvider } from './provider';

export const pgUrl = serviceUrl({
  name: 'PostgreSQL',
  env: 'CMEK_PG_URL',
  start: 'bash scripts/services/up.sh postgres',
});

const TABLES = `
create table prisma_users (
  id serial primary key,
  email text not null unique,
  "slackToken" text,
  note text
);
create table prisma_posts (
  id serial primary key,
  title text not null,
  secret text,
  "authorId" int not null references prisma_users(id)
);
create table prisma_profiles (
  id serial primary key,
  pin text,
  "userId" int not null unique references prisma_users(id)
);
create table prisma_conformance (
  id serial primary key,
  secret text,
  note text,
  "tokenHash" text,
  "tokenHashBidx" varchar(80) unique
);
create table prisma_api_tokens (
  id serial primary key,
  name text not null,
  "tokenHash" text,
  "tokenHashBidx" varchar(80) unique,
  email text,
  "emailBidx" varchar(80),
  "ownerId" int references prisma_users(id)
);
create table prisma_accounts (
  id serial primary key,
  "workspaceId" text,
  name text not null unique,
  token text,
  note text
);`;

export const MODELS = {
  User: { fields: ['slackToken', 'note'] },
  Post: { fields: ['secret'] },
  Profile: { fields: { pin: { context: { field: 'profiles.pin' } } } },
  Conformance: {
    fields: { secret: {}, note: {}, tokenHash: { blindIndex: { column: 'tokenHashBidx' } } },
  },
  ApiToken: {
    fields: {
      tokenHash: { blindIndex: { column: 'tokenHashBidx' } },
      email: { blindIndex: { column: 'emailBidx', normalize: ['trim', 'lowercase'] } },
    },
  },
} as const;

export function makeClient(schema: string): PrismaClient {
  return new PrismaClient({
    adapter: new PrismaPg({ connectionString: pgUrl!, max: 4 }, { schema }),
  });
}

export function extend(client: PrismaClient, envelope: Envelope, indexer: BlindIndexer) {
  return client.$extends(cmekExtension({ envelope, models: MODELS, indexer }));
}

export type CmekClient = ReturnType<typeof extend>;

export interface TestDatabase {
  readonly schema: string;
  /** A plain pg client on the schema (its search_path): what is really stored. */
  readonly raw: PgClient;
  /** The PrismaClient without the extension. */
  readonly plain: PrismaClient;
  readonly envelope: Envelope;
  /** The KEK of the envelope and of the index key. */
  readonly kek: MemoryKekProvider;
  /** The index key (`cmek:bik1:…`, wrapped by `kek`) and the indexer the extension has loaded. */
  readonly indexKey: string;
  readonly indexer: BlindIndexer;
  /** The extended client. */
  readonly db: CmekClient;
  /** The stored row of a table, read with SQL. */
  row(table: string, id: number): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

export async function openDatabase(tag: string): Promise<TestDatabase> {
  const schema = `prisma_${tag}_${process.pid}_${Math.floor(Math.random() * 1e6)}`;
  const raw = new pg.Client({ connectionString: pgUrl! });
  await raw.connect();
  await raw.query(`create schema ${schema}`);
  await raw.query(`set search_path to ${schema}`);
  await raw.query(TABLES);
  const plain = makeClient(schema);
  const kek = countingProvider();
  const envelope = createEnvelope({ kek });
  const indexKey = await createBlindIndexKey(kek);
  const indexer = await loadBlindIndexes({ keys: [indexKey], kek });
  const db = extend(plain, envelope, indexer);
  return {
    schema,
    raw,
    plain,
    envelope,
    kek,
    indexKey,
    indexer,
    db,
    async row(table, id) {
      const { rows } = await raw.query(`select * from ${table} where id = $1`, [id]);
      if (rows.length !== 1) throw new Error(`no row ${id} in ${table}`);
      return rows[0] as Record<string, unknown>;
    },
    async close() {
      indexer.close();
      await plain.$disconnect();
      await raw.query(`drop schema ${schema} cascade`);
      await raw.end();
    },
  };
}

/** Whether a stored value is a cmek token (and not the plaintext). */
export function isToken(value: unknown): boolean {
  return typeof value === 'string' && value.startsWith('cmek:v1:');
}
