/**
 * @cmek/adapter-prisma against plain Prisma 7 (driver adapter `@prisma/adapter-pg`) on PostgreSQL:
 * 10,000 rows with two secret fields (`access_token`, `refresh_token`) beside a plain `name`;
 * `createMany` them (one call, as an application importing a batch would), then `findMany` them
 * back. Target: <= 1.3x the plain client's wall time. Each of BENCH_RUNS rounds (after one warm-up
 * round) times the plain and the extended client back to back, in alternating order; the ratio is
 * the median of the per-round ratios. Beside it: the KEK calls of the encrypted run, the core's
 * encryptMany / decryptMany alone on the same values, and plain Prisma moving ready-made ciphertext.
 *
 * The Prisma client is generated offline into bench/.bench-tmp (git-ignored) with the schema
 * engine pointed at a binary never run; the table is created with SQL.
 *
 * Needs CMEK_PG_URL (bash scripts/services/up.sh postgres).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cmekExtension } from '@cmek/adapter-prisma';
import { createEnvelope } from '@cmek/core';
import { PrismaPg } from '@prisma/adapter-pg';
import {
  insertSelectRounds,
  kekCallCounter,
  loadAverage,
  memoryKek,
  type PhaseSamples,
  printPhases,
  SECRET_COLUMNS,
  secretRows,
  summarize,
} from './orm-support';

const ROWS = 10_000;
const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const SECRETS = SECRET_COLUMNS;
const benchDir = resolve(import.meta.dirname, '..');

const SCHEMA = `
generator client {
  provider            = "prisma-client"
  output              = "./generated"
  importFileExtension = "js"
}

datasource db {
  provider = "postgresql"
}

model Integration {
  id            Int     @id @default(autoincrement())
  name          String
  access_token  String?
  refresh_token String?

  @@map("prisma_bench_integrations")
}
`;

type Row = Record<string, unknown>;

/** The part of the generated client the bench uses. */
interface BenchClient {
  integration: {
    createMany(args: { data: Row[] }): Promise<{ count: number }>;
    findMany(args: { select: Record<string, boolean> }): Promise<Row[]>;
    deleteMany(): Promise<unknown>;
  };
  $extends(extension: unknown): BenchClient;
  $executeRawUnsafe(sql: string): Promise<number>;
  $disconnect(): Promise<void>;
}

/** `prisma generate` without the schema engine (nothing is downloaded). */
async function generatedClient(): Promise<new (options: { adapter: PrismaPg }) => BenchClient> {
  const dir = join(benchDir, '.bench-tmp', 'prisma');
  mkdirSync(dir, { recursive: true });
  const schema = join(dir, 'schema.prisma');
  writeFileSync(schema, SCHEMA);
  const cli = createRequire(join(benchDir, 'package.json')).resolve('prisma/build/index.js');
  execFileSync(process.execPath, [cli, 'generate', '--schema', schema], {
    stdio: 'pipe',
    env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: '/bin/false', CHECKPOINT_DISABLE: '1' },
  });
  const module = (await import(pathToFileURL(join(dir, 'generated', 'client.ts')).href)) as {
    PrismaClient: new (options: { adapter: PrismaPg }) => BenchClient;
  };
  return module.PrismaClient;
}

async function main(): Promise<void> {
  const url = process.env.CMEK_PG_URL;
  if (!url) throw new Error('set CMEK_PG_URL (bash scripts/services/up.sh postgres)');
  const before = loadAverage();
  const PrismaClient = await generatedClient();
  const schema = `prisma_bench_${process.pid}`;
  const plain = new PrismaClient({
    adapter: new PrismaPg({ connectionString: url, max: 2 }, { schema }),
  });
  const counter = kekCallCounter();
  const envelope = createEnvelope({ kek: memoryKek(), onEvent: counter.onEvent });
  const encrypted = plain.$extends(
    cmekExtension({ envelope, models: { Integration: { fields: [...SECRETS] } } }),
  );
  const rows = secretRows(ROWS);
  const table = `${schema}.prisma_bench_integrations`;
  const select = { id: true, name: true, access_token: true, refresh_token: true };

  await plain.$executeRawUnsafe(`drop schema if exists ${schema} cascade`);
  await plain.$executeRawUnsafe(`create schema ${schema}`);
  await plain.$executeRawUnsafe(
    `create table ${table} (id serial primary key, name text not null, access_token text, refresh_token text)`,
  );

  let phases: { insert: PhaseSamples; select: PhaseSamples };
  try {
    phases = await insertSelectRounds(
      {
        plain: plain as BenchClient,
        encrypted,
        rows,
        envelope,
        counter,
        contextOf: (c) => ({ field: `Integration.${c}` }),
        truncate: () => plain.$executeRawUnsafe(`truncate ${table}`),
        insert: (db, data) => db.integration.createMany({ data: data as typeof rows }),
        select: (db) => db.integration.findMany({ select }),
        valueOf: (row: Row, c) => row[c as keyof Row],
      },
      RUNS,
    );
  } finally {
    await plain.$executeRawUnsafe(`drop schema if exists ${schema} cascade`);
    await plain.$disconnect();
    await envelope.close();
  }
  printPhases(
    'prisma-pg',
    { rows: ROWS, 'secret fields': SECRETS.length, runs: RUNS },
    { before, after: loadAverage() },
    [summarize('createMany', phases.insert), summarize('findMany', phases.select)],
    ['createMany', 'findMany'],
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
