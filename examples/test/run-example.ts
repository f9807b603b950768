/** Runs an example the way its README says (its `start` script), after building what it uses. */
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../..');

export interface ExampleRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Builds the workspace packages the example depends on (turbo: cached when nothing changed). */
export function buildExample(folder: string): void {
  const build = spawnSync(
    'pnpm',
    [
      'exec',
      'turbo',
      'run',
      'build',
      `--filter=@cmek/example-${folder}...`,
      '--output-logs=errors-only',
    ],
    { cwd: ROOT, encoding: 'utf8' },
  );
  if (build.status !== 0) throw new Error(`building for ${folder} failed:\n${build.stderr}`);
}

/**
 * Builds what the example uses (`buildExample`), then runs `tsx src/main.ts` in the example's
 * folder, as `pnpm --filter <name> start` does.
 */
export function runExample(folder: string, env: NodeJS.ProcessEnv = {}): ExampleRun {
  buildExample(folder);
  const dir = join(ROOT, 'examples', folder);
  const run = spawnSync(join(dir, 'node_modules/.bin/tsx'), ['src/main.ts'], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 90_000,
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** The lines of one numbered step of an example's output (from `N.` to the next step). */
export function stepOf(stdout: string, n: number): string[] {
  const lines = stdout.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`${n}. `));
  if (start < 0) return [];
  const end = lines.findIndex((l, i) => i > start && /^\d+\. /.test(l));
  return lines.slice(start, end < 0 ? undefined : end);
}
