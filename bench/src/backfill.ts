/**
 * `cmek backfill` and `cmek rotate` through the real `cmek` binary (`packages/cli`'s built
 * `bin`, as an operator runs it) over PostgreSQL: BENCH_ROWS rows (default 100,000) with two
 * secret columns of legacy plaintext, a generated `cmek.config.ts` with one row store (a
 * `knexRowStore`, then a `sequelizeRowStore` over its own table), local key files made by
 * `cmek keygen`. Per run: rows/s over the CLI's wall time (process start and config load
 * included) and over the engine's own duration (its `--json` report), the peak RSS of the CLI
 * process (`/usr/bin/time -v` when installed, else the child's `maxRSS` from a wrapper), and
 * for `rotate` the KEK calls of its report. Checks afterwards, in the database, that every
 * value is a token.
 *
 * Builds the packages the binary loads first (`turbo run build`, cached when nothing changed):
 * the binary and the config's imports run from `dist/`, so the numbers are of the tree's code.
 * BENCH_NO_BUILD=1 skips the build.
 *
 * Needs CMEK_PG_URL (bash scripts/services/up.sh postgres).
 *
 *   pnpm --filter @cmek/bench bench:backfill     # BENCH_ROWS=100000
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import knexFactory from 'knex';
import { loadAverage } from './orm-support';

const ROWS = Number(process.env.BENCH_ROWS ?? 100_000);
const BATCH = Number(process.env.BENCH_BATCH ?? 1000);
const here = dirname(fileURLToPath(import.meta.url));
const benchDir = resolve(here, '..');
const repoRoot = resolve(benchDir, '..');
const bin = join(repoRoot, 'packages', 'cli', 'dist', 'bin.js');
const TIME = '/usr/bin/time';

const url = process.env.CMEK_PG_URL ?? '';

function build(): void {
  if (process.env.BENCH_NO_BUILD === '1') return;
  const filters = ['cli', 'adapter-knex', 'adapter-sequelize', 'provider-local'].map(
    (p) => `--filter=@cmek/${p}...`,
  );
  const run = spawnSync(
    'pnpm',
    ['exec', 'turbo', 'run', 'build', ...filters, '--output-logs=errors-only'],
    { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  if (run.status !== 0) throw new Error(`the build failed (exit ${run.status})`);
}

/** The config the CLI loads: one store over `table`, its keyring from two key files. */
function configText(kind: 'knex' | 'sequelize', table: string): string {
  const keyring = `keyring: async () => {
    const old = process.env.BENCH_OLD_KEY;
    return createKeyring({
      primary: await createLocalKekProvider({ path: process.env.BENCH_KEY! }),
      decryptOnly: old ? [await createLocalKekProvider({ path: old })] : [],
    });
  },`;
  const common = `import { createKeyring } from '@cmek/core';
import { createLocalKekProvider } from '@cmek/provider-local';
`;
  if (kind === 'knex') {
    return `${common}import { knexRowStore } from '@cmek/adapter-knex';
import knex from 'knex';

const db = knex({ client: 'pg', connection: process.env.CMEK_PG_URL, pool: { min: 0, max: 10 } });
export default {
  ${keyring}
  stores: [knexRowStore({ knex: db, table: '${table}', columns: ['access_token', 'refresh_token'] })],
  close: () => db.destroy(),
};
`;
  }
  return `${common}import { sequelizeRowStore } from '@cmek/adapter-sequelize';
import { DataTypes, Sequelize } from 'sequelize';

const sequelize = new Sequelize(process.env.CMEK_PG_URL!, { logging: false, pool: { max: 10 } });
const Integration = sequelize.define(
  'Integration',
  {
    id: { type: DataTypes.INTEGER, primaryKey: true },
    name: DataTypes.TEXT,
    access_token: DataTypes.TEXT,
    refresh_token: DataTypes.TEXT,
  },
  { tableName: '${table}', timestamps: false },
);
export default {
  ${keyring}
  stores: [sequelizeRowStore(Integration, ['access_token', 'refresh_token'])],
  close: () => sequelize.close(),
};
`;
}

interface CliRun {
  readonly status: number;
  readonly wallSeconds: number;
  readonly peakRssMiB: number;
  readonly report: Record<string, unknown> | undefined;
  readonly stderr: string;
}

/** Runs `cmek <args>` as its own process and measures its wall time and peak RSS. */
function cmek(args: readonly string[], cwd: string, env: Record<string, string>): CliRun {
  const useTime = existsSync(TIME);
  const command = useTime ? TIME : process.execPath;
  const argv = useTime ? ['-v', process.execPath, bin, ...args] : ['-e', RSS_WRAPPER, bin, ...args];
  const started = performance.now();
  const run = spawnSync(command, argv, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    maxBuffer: 64 * 1024 * 1024,
  });
  const wallSeconds = (performance.now() - started) / 1000;
  const rssKb = useTime
    ? Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(run.stderr)?.[1] ?? Number.NaN)
    : Number(/^cmek-bench-maxrss-kb (\d+)$/m.exec(run.stderr)?.[1] ?? Number.NaN);
  const last = run.stdout.trim().split('\n').at(-1);
  let report: Record<string, unknown> | undefined;
  try {
    report = last ? (JSON.parse(last) as Record<string, unknown>) : undefined;
  } catch {
    report = undefined;
  }
  return {
    status: run.status ?? 1,
    wallSeconds,
    peakRssMiB: Math.round(rssKb / 1024),
    report,
    stderr: run.stderr,
  };
}

/** Without /usr/bin/time: runs the binary as a child and prints the child's peak RSS. */
const RSS_WRAPPER = `
const { spawnSync } = require('node:child_process');
const [bin, ...args] = process.argv.slice(1);
const r = spawnSync(process.execPath, [bin, ...args], { stdio: 'inherit' });
process.stderr.write('cmek-bench-maxrss-kb ' + require('node:process').resourceUsage().maxRSS + '\\n');
process.exit(r.status ?? 1);
`;

/** The engine's duration in a `--json` report (the sum over its stores), in seconds. */
function engineSeconds(report: Record<string, unknown> | undefined): number | undefined {
  const stores = report?.stores;
  if (!Array.isArray(stores)) return undefined;
  const ms = stores.reduce(
    (a: number, s: unknown) => a + Number((s as { durationMs?: unknown }).durationMs ?? 0),
    0,
  );
  return ms > 0 ? ms / 1000 : undefined;
}

/** The KEK calls a `rotate` report counts, and the DEKs it moved: `4 unwrap + 4 wrap, 4 DEKs`. */
function kekCallsOf(report: Record<string, unknown> | undefined): string {
  const calls = (report?.kekCalls as { byOperation?: Record<string, number> } | undefined)
    ?.byOperation;
  if (!calls) return '';
  const stores = Array.isArray(report?.stores) ? (report.stores as unknown[]) : [];
  const deks = stores.reduce(
    (a: number, s) => a + Number((s as { deks?: { rewrapped?: unknown } }).deks?.rewrapped ?? 0),
    0,
  );
  const ops = Object.entries(calls)
    .map(([op, n]) => `${n} ${op}`)
    .join(' + ');
  return `${ops}, ${deks} DEKs moved`;
}

interface Line {
  store: string;
  command: string;
  rows: number;
  exit: number;
  wallSeconds: number;
  rowsPerSecondWall: number;
  engineSeconds: number | undefined;
  rowsPerSecondEngine: number | undefined;
  peakRssMiB: number;
  kekCalls: string;
}

async function main(): Promise<void> {
  if (!url) throw new Error('set CMEK_PG_URL (bash scripts/services/up.sh postgres)');
  const before = loadAverage();
  build();
  const tmp = join(benchDir, '.bench-tmp', `backfill-${process.pid}`);
  mkdirSync(tmp, { recursive: true });
  const db = knexFactory({ client: 'pg', connection: url, pool: { min: 0, max: 2 } });
  const lines: Line[] = [];
  const tables: string[] = [];
  try {
    const oldKey = join(tmp, 'kek-old.key');
    const newKey = join(tmp, 'kek-new.key');
    for (const key of [oldKey, newKey]) {
      const made = cmek(['keygen', key], tmp, {});
      if (made.status !== 0) throw new Error(`cmek keygen failed: ${made.stderr}`);
    }
    for (const kind of ['knex', 'sequelize'] as const) {
      const table = `bench_cli_${kind}_${process.pid}`;
      tables.push(table);
      await db.schema.dropTableIfExists(table);
      await db.raw(
        `CREATE TABLE ?? (id integer PRIMARY KEY, name text, access_token text, refresh_token text);
         INSERT INTO ?? SELECT g, 'integration-' || g, 'xoxb-' || md5(g::text) || '-' || g,
           'xoxe-' || md5((g * 7)::text) || md5(g::text) FROM generate_series(1, ${ROWS}) g`,
        [table, table],
      );
      const config = join(tmp, `cmek.${kind}.config.ts`);
      writeFileSync(config, configText(kind, table));
      const common = ['--config', config, '--json', '--batch', String(BATCH)];
      const steps: [string, string[], Record<string, string>][] = [
        ['backfill', ['backfill', ...common], { BENCH_KEY: oldKey }],
        ['rotate', ['rotate', ...common], { BENCH_KEY: newKey, BENCH_OLD_KEY: oldKey }],
      ];
      for (const [command, args, env] of steps) {
        const r = cmek(args, tmp, env);
        if (r.status !== 0) {
          console.error(r.stderr.split('\n').slice(0, 20).join('\n'));
          throw new Error(`cmek ${command} (${kind}) exited with ${r.status}`);
        }
        const engine = engineSeconds(r.report);
        lines.push({
          store: kind === 'knex' ? 'knexRowStore' : 'sequelizeRowStore',
          command,
          rows: ROWS,
          exit: r.status,
          wallSeconds: Number(r.wallSeconds.toFixed(1)),
          rowsPerSecondWall: Math.round(ROWS / r.wallSeconds),
          engineSeconds: engine === undefined ? undefined : Number(engine.toFixed(1)),
          rowsPerSecondEngine: engine === undefined ? undefined : Math.round(ROWS / engine),
          peakRssMiB: r.peakRssMiB,
          kekCalls: command === 'rotate' ? kekCallsOf(r.report) : '',
        });
        console.log(JSON.stringify({ bench: 'cli', ...lines.at(-1), report: r.report }));
      }
      const counts = (await db.raw(
        `SELECT count(*) FILTER (WHERE access_token LIKE 'cmek:v1:%') AS a,
                count(*) FILTER (WHERE refresh_token LIKE 'cmek:v1:%') AS r FROM ??`,
        [table],
      )) as { rows: { a: string; r: string }[] };
      const { a, r } = counts.rows[0]!;
      if (Number(a) !== ROWS || Number(r) !== ROWS) {
        throw new Error(`${kind}: ${a} and ${r} of ${ROWS} values are tokens after the backfill`);
      }
    }
  } finally {
    for (const t of tables) await db.schema.dropTableIfExists(t);
    await db.destroy();
    rmSync(tmp, { recursive: true, force: true });
  }
  const fmt = (n: number | undefined) => (n === undefined ? '—' : n.toLocaleString('en-US'));
  console.log(
    `\ncmek CLI over PostgreSQL: node ${process.version}, ${ROWS.toLocaleString('en-US')} rows x 2 secret columns, --batch ${BATCH}, ` +
      `peak RSS by ${existsSync(TIME) ? '/usr/bin/time -v' : 'a wrapper (resourceUsage().maxRSS)'}, load average ${before} before, ${loadAverage()} after\n`,
  );
  console.log(
    '| store | command | wall (s) | rows/s (wall) | engine (s) | rows/s (engine) | peak RSS (MiB) | KEK calls |',
  );
  console.log('|---|---|---:|---:|---:|---:|---:|---|');
  for (const l of lines) {
    console.log(
      `| ${l.store} | ${l.command} | ${l.wallSeconds} | ${fmt(l.rowsPerSecondWall)} | ${fmt(l.engineSeconds)} | ${fmt(l.rowsPerSecondEngine)} | ${l.peakRssMiB} | ${l.kekCalls || '—'} |`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
