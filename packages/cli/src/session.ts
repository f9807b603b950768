/**
 * One invocation of `cmek`: the command, its output mode, and what it has done so far, so that
 * every exit (success, failure, interruption, a forced quit) prints one report.
 */
import { writeSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { describeError, errorLines, exitCodeOfError } from './error-report';
import { EXIT, type ExitCode } from './exit-codes';
import { line } from './io';

export interface Session {
  /** `backfill`, `rotate`, `verify`, ... (the first word of argv until the command starts). */
  command: string;
  json: boolean;
  verbose: boolean;
  /** The store being worked on. */
  store: string | undefined;
  /**
   * The report's fields beyond `command`, `exitCode` and `error`: what was done so far.
   * `status` is what the store in flight is marked with.
   */
  snapshot: ((status: 'failed' | 'interrupted') => Record<string, unknown>) | undefined;
  /** Human lines printed on stderr after the error (what was done, where the checkpoint is). */
  failureLines: (() => string[]) | undefined;
  /** The JSON report is printed: a forced quit after it prints no second one. */
  reported: boolean;
}

function flag(argv: readonly string[], name: string): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).includes(name);
}

export function newSession(argv: readonly string[]): Session {
  return {
    command: argv.find((a) => !a.startsWith('-')) ?? 'cmek',
    json: flag(argv, '--json'),
    verbose: flag(argv, '--verbose'),
    store: undefined,
    snapshot: undefined,
    failureLines: undefined,
    reported: false,
  };
}

/** The JSON report of a command: `command`, `exitCode`, `error`, then the command's own fields. */
function jsonReport(
  session: Session,
  exitCode: ExitCode,
  error: unknown,
  fields: Record<string, unknown>,
): string {
  return JSON.stringify({
    command: session.command,
    exitCode,
    error:
      error === undefined
        ? null
        : describeError(error, {
            verbose: session.verbose,
            ...(session.store === undefined ? {} : { store: session.store }),
          }),
    ...fields,
  });
}

/** Prints the command's one JSON report on `stdout`. */
export function printJsonReport(
  session: Session,
  stdout: Writable,
  exitCode: ExitCode,
  error: unknown,
  fields: Record<string, unknown>,
): void {
  session.reported = true;
  line(stdout, jsonReport(session, exitCode, error, fields));
}

/** Prints what a command that threw says (one JSON report, or the error lines) and returns its exit code. */
export function reportFailure(
  session: Session,
  error: unknown,
  out: { stdout: Writable; stderr: Writable },
): ExitCode {
  const code = exitCodeOfError(error);
  let fields: Record<string, unknown> = {};
  let extra: string[] = [];
  try {
    fields = session.snapshot?.('failed') ?? {};
    extra = session.json ? [] : (session.failureLines?.() ?? []);
  } catch {
    // What was done is a courtesy; the error itself is printed in any case.
  }
  if (session.json) printJsonReport(session, out.stdout, code, error, fields);
  const report = describeError(error, {
    verbose: session.verbose,
    ...(session.store === undefined ? {} : { store: session.store }),
  });
  for (const text of [...errorLines(report), ...extra]) line(out.stderr, text);
  return code;
}

/** A second Ctrl-C: print the report synchronously (the process exits right after). */
export function reportForcedExit(session: Session): void {
  if (!session.json || session.reported) return;
  session.reported = true;
  let fields: Record<string, unknown> = {};
  try {
    fields = session.snapshot?.('interrupted') ?? {};
  } catch {
    // Print the rest.
  }
  writeSync(1, `${jsonReport(session, EXIT.interrupted, undefined, fields)}\n`);
}
