/** Runs the real `cmek` command (the installed `@cmek/cli`) the way an operator would. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { line } from './print';

const require = createRequire(import.meta.url);
const cliPackage = require.resolve('@cmek/cli/package.json');
const bin = join(
  dirname(cliPackage),
  (JSON.parse(readFileSync(cliPackage, 'utf8')) as { bin: { cmek: string } }).bin.cmek,
);

/** The demo's config for the CLI (`cmek.config.ts` beside this folder). */
export const CONFIG = resolve(import.meta.dirname, '..', 'cmek.config.ts');

export interface CliRun {
  readonly status: number;
  readonly stdout: string;
}

/**
 * Runs `cmek <args>` in `cwd` with the demo's environment and prints the command and everything it
 * wrote (stdout and stderr) as part of the demo's output, paths inside `cwd` shortened. Throws if the command exits with a code not in `expected`.
 */
export function cmek(
  args: readonly string[],
  options: { cwd: string; env: Record<string, string>; expected?: readonly number[] },
): CliRun {
  const shown = args.map((a) =>
    a === CONFIG ? 'cmek.config.ts' : a.startsWith(options.cwd) ? relative(options.cwd, a) : a,
  );
  line(`$ cmek ${shown.join(' ')}`);
  const run = spawnSync(process.execPath, [bin, ...args], {
    cwd: options.cwd,
    encoding: 'utf8',
    env: { ...process.env, ...options.env },
  });
  const status = run.status ?? 1;
  for (const text of [run.stdout, run.stderr]) {
    for (const out of text.split('\n')) if (out) line(`  ${out.replaceAll(options.cwd, '.')}`);
  }
  if (!(options.expected ?? [0]).includes(status)) {
    throw new Error(`cmek ${args[0]} exited with ${status}`);
  }
  return { status, stdout: run.stdout };
}
