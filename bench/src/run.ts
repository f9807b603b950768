/**
 * Runs the benchmarks one after the other (never in parallel: they would disturb each other).
 *
 *   pnpm --filter @cmek/bench bench                 # every bench whose file exists
 *   pnpm --filter @cmek/bench bench envelope knex   # just these
 *
 * Each bench is its own process (`tsx src/<name>.ts`) and prints its own table; the benches that
 * need a service read its URL from the environment (scripts/services/up.sh) and say so if it is
 * missing. Exits non-zero if any bench failed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCHES = [
  'envelope',
  'telemetry',
  'blind-index',
  'tenants',
  'aws-kms',
  'vault',
  'sequelize',
  'knex',
  'mongoose',
  'prisma',
  'drizzle',
  'backfill',
];
const here = dirname(fileURLToPath(import.meta.url));
const wanted = process.argv.slice(2);
for (const name of wanted) {
  if (!BENCHES.includes(name)) {
    console.error(`unknown bench '${name}'; known: ${BENCHES.join(', ')}`);
    process.exit(2);
  }
}

const results: { name: string; status: string }[] = [];
for (const name of wanted.length > 0 ? wanted : BENCHES) {
  const file = join(here, `${name}.ts`);
  if (!existsSync(file)) {
    results.push({ name, status: 'absent' });
    continue;
  }
  console.log(`\n=== bench: ${name} ===`);
  const run = spawnSync(process.execPath, ['--import', 'tsx', file], {
    cwd: join(here, '..'),
    stdio: 'inherit',
    env: process.env,
  });
  results.push({
    name,
    status: run.status === 0 ? 'ok' : `failed (exit ${run.status ?? run.signal})`,
  });
}

console.log('\n=== summary ===');
for (const r of results) console.log(`${r.name}: ${r.status}`);
process.exit(results.some((r) => r.status.startsWith('failed')) ? 1 : 0);
