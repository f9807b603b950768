/** Where the commands write, and what they are given: injectable so tests run them in-process. */
import type { Writable } from 'node:stream';
import { jitiImporter, type ModuleImporter } from './config';

export interface CliIo {
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly stdin: NodeJS.ReadableStream;
  readonly cwd: string;
  /** Imports `cmek.config.*`; default jiti (TypeScript and ESM without a build step). */
  readonly importModule: ModuleImporter;
  /** Aborted on SIGINT / SIGTERM by the bin; tests abort it themselves. */
  readonly signal?: AbortSignal;
}

export function processIo(signal?: AbortSignal): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    cwd: process.cwd(),
    importModule: jitiImporter,
    ...(signal ? { signal } : {}),
  };
}

export function isTty(stream: Writable): boolean {
  return (stream as Writable & { isTTY?: boolean }).isTTY === true;
}

export function line(stream: Writable, text = ''): void {
  stream.write(`${text}\n`);
}
