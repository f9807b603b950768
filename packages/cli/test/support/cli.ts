/** Runs the CLI in-process, capturing stdout and stderr, with configs loaded from the sources. */
import { spawn } from 'node:child_process';
import { PassThrough, Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createJiti } from 'jiti';
import { run } from '../../src/index';
// @ts-expect-error: a plain .mjs helper shared with the child process
import { alias } from './alias.mjs';

const jiti = createJiti(import.meta.url, {
  alias: alias as Record<string, string>,
  interopDefault: true,
});

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function sink(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

export async function cmek(
  argv: readonly string[],
  options: { cwd?: string; stdin?: string; signal?: AbortSignal } = {},
): Promise<CliResult> {
  const out = sink();
  const err = sink();
  const code = await run(argv, {
    stdout: out.stream,
    stderr: err.stream,
    stdin: Readable.from([options.stdin ?? '']),
    cwd: options.cwd ?? process.cwd(),
    importModule: (path) => jiti.import(path, { default: true }),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return { code, stdout: out.text(), stderr: err.text() };
}

/** The JSON report a `--json` run printed. */
export function report<T = Record<string, unknown>>(result: CliResult): T {
  const lines = result.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as T;
}

export const childScript = fileURLToPath(new URL('./child.mjs', import.meta.url));

/** Starts the CLI from its sources in a child process. */
export function spawnCmek(argv: readonly string[], cwd: string) {
  return spawn(process.execPath, [childScript, ...argv], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}
