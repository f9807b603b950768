/**
 * The Bun and Deno binaries of the root devDependencies `bun` and `deno` (npm packages whose
 * postinstall links the platform binary of `@oven/bun-*` / `@deno/*` into place; both are in
 * `allowBuilds`), how to run a script or the `cmek` bin on each, and the built packages they load.
 *
 * Nothing here depends on the Node running vitest (20, 22 or 24): the runtimes are their own
 * binaries, spawned as child processes.
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

export const repoRoot = resolve(import.meta.dirname, '..', '..');

/** The built entry points the runtimes load (`pnpm exec turbo run build` writes them). */
export const dist = {
  core: join(repoRoot, 'packages/core/dist/index.js'),
  providerLocal: join(repoRoot, 'packages/provider-local/dist/index.js'),
  cliBin: join(repoRoot, 'packages/cli/dist/bin.js'),
};

export function missingBuilds(): string[] {
  return Object.values(dist).filter((file) => !existsSync(file));
}

/** Under CI a runtime that is not installed fails its tests; elsewhere they are skipped. */
export const inCi = process.env.CI !== undefined && !['', '0', 'false'].includes(process.env.CI);

/**
 * Deno's permissions, the fewest that work: read (the dist files, node_modules, key files), write
 * (`generateKekFile`, `cmek keygen`), `sys=uid` (the key file's owner check calls
 * `process.getuid()`). `--allow-env` is added where a config file is loaded: jiti reads
 * environment variables.
 */
export const DENO_PERMISSIONS = ['--allow-read', '--allow-write', '--allow-sys=uid'];

export interface Runtime {
  /** `Bun` or `Deno`. */
  readonly name: string;
  /** `Bun 1.4.5`; `Bun (not installed)` when missing. */
  readonly label: string;
  readonly version: string | undefined;
  /** Why the runtime cannot be run (not installed, postinstall not run, ...). */
  readonly missing: string | undefined;
  /** The command and the arguments before the script: `deno run <permissions>`. */
  command(extraFlags?: readonly string[]): [string, string[]];
}

const require = createRequire(join(repoRoot, 'package.json'));

function packageDir(name: string): string | undefined {
  try {
    return dirname(require.resolve(`${name}/package.json`));
  } catch {
    return undefined;
  }
}

function probe(
  name: string,
  binary: string | undefined,
  runArgs: (flags: readonly string[]) => string[],
  parseVersion: (stdout: string) => string | undefined,
): Runtime {
  let version: string | undefined;
  let missing: string | undefined;
  if (binary === undefined || !existsSync(binary)) {
    missing = `the ${name.toLowerCase()} binary is not installed (root devDependency; run pnpm install)`;
  } else {
    const result = spawnSync(binary, ['--version'], {
      encoding: 'utf8',
      timeout: 20_000,
      env: runtimeEnv(),
    });
    version = result.status === 0 ? parseVersion(result.stdout) : undefined;
    if (version === undefined) {
      missing = `${binary} --version failed (${result.error?.message ?? `exit ${result.status}`}): ${result.stderr}`;
    }
  }
  return {
    name,
    label: version === undefined ? `${name} (not installed)` : `${name} ${version}`,
    version,
    missing,
    command: (flags = []) => [binary ?? name, runArgs(flags)],
  };
}

/** Bun: the `bun` package's `bin/bun.exe` (its postinstall replaces a shell placeholder). */
function findBun(): Runtime {
  const dir = packageDir('bun');
  const binary = dir === undefined ? undefined : join(dir, 'bin', 'bun.exe');
  return probe(
    'Bun',
    binary,
    () => [],
    (out) => /^(\d+\.\d+\.\d+\S*)/.exec(out.trim())?.[1],
  );
}

/** Deno: the `deno` package's `deno` binary (its postinstall links it next to `bin.cjs`). */
function findDeno(): Runtime {
  const dir = packageDir('deno');
  const binary =
    dir === undefined ? undefined : join(dir, process.platform === 'win32' ? 'deno.exe' : 'deno');
  return probe(
    'Deno',
    binary,
    (flags) => ['run', ...DENO_PERMISSIONS, ...flags],
    (out) => /^deno (\d+\.\d+\.\d+\S*)/.exec(out.trim())?.[1],
  );
}

export const runtimes: readonly Runtime[] = [findBun(), findDeno()];

/** The exact versions the lockfile installs (`package.json` of the npm packages). */
export function installedVersion(name: 'bun' | 'deno'): string | undefined {
  const dir = packageDir(name);
  if (dir === undefined) return undefined;
  return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string })
    .version;
}

function runtimeEnv(): NodeJS.ProcessEnv {
  // No colours in messages, no update check or prompt from Deno (the machine may be offline).
  return { ...process.env, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1', DENO_NO_PROMPT: '1' };
}

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `<runtime> [flags] <script> <args>` in `cwd`; never throws on a non-zero exit. */
export function run(
  runtime: Runtime,
  script: string,
  args: readonly string[],
  options: { cwd: string; flags?: readonly string[] },
): Promise<RunResult> {
  const [command, before] = runtime.command(options.flags);
  return new Promise((resolveRun) => {
    execFile(
      command,
      [...before, script, ...args],
      { cwd: options.cwd, env: runtimeEnv(), timeout: 20_000, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error === null) resolveRun({ code: 0, stdout, stderr });
        else if (typeof error.code === 'number') resolveRun({ code: error.code, stdout, stderr });
        // Not started, or killed by the timeout: no exit code, the reason in stderr.
        else resolveRun({ code: null, stdout, stderr: `${stderr}\n${error.message}` });
      },
    );
  });
}

/**
 * The tests of one runtime, named after it (`Bun 1.4.5`). A runtime that cannot run fails one
 * test under CI (the lockfile installs both, so it is a broken install) and is skipped elsewhere.
 */
export function describeRuntime(runtime: Runtime, body: () => void): void {
  if (runtime.missing === undefined) describe(runtime.label, body);
  else if (inCi) {
    describe(runtime.label, () => {
      it('is installed and runs', () => expect.fail(runtime.missing));
    });
  } else describe.skip(`${runtime.label}: ${runtime.missing}`, body);
}
