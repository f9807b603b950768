/** What the CLI says about an error, human or JSON: code, class, redacted message, cause chain. */
import { CmekError } from '@cmek/core';
import { EXIT, type ExitCode } from './exit-codes';
import { redact, valuesFor } from './redact';

const USAGE_CODES = new Set(['CMEK_CONFIG', 'CMEK_INVALID_INPUT']);
const MAX_MESSAGE = 500;
const MAX_CAUSES = 8;
/** A driver's own error code (`SQLITE_CONSTRAINT_CHECK`, `ECONNREFUSED`, `23505`) is safe to show. */
const SAFE_CODE = /^[A-Za-z0-9_.-]{1,64}$/;

export interface CauseReport {
  /** The class name (`CmekKekUnavailableError`, `SqliteError`, ...). */
  readonly name: string;
  /** The cmek code, or the driver's own code, when there is one. */
  readonly code: string | null;
  /** The message, redacted. */
  readonly message: string;
}

export interface ErrorReport extends CauseReport {
  /** True when the same command may succeed if run again later (the KEK service was down). */
  readonly retryable: boolean;
  /** The store the command was working on, if any. */
  readonly store?: string;
  /** `--verbose`: the causes, outermost first. */
  readonly causes?: readonly CauseReport[];
}

function describeOne(error: unknown, values: readonly string[]): CauseReport {
  if (error instanceof Error) {
    const own = (error as { code?: unknown }).code;
    const code = typeof own === 'string' && SAFE_CODE.test(own) ? own : null;
    return {
      name: error.name || error.constructor.name || 'Error',
      code,
      message: redact(error.message, values).slice(0, MAX_MESSAGE),
    };
  }
  return {
    name: typeof error,
    code: null,
    message: redact(String(error), values).slice(0, MAX_MESSAGE),
  };
}

/** The error's report; with `verbose`, its cause chain too. */
export function describeError(
  error: unknown,
  options: { verbose?: boolean; store?: string } = {},
): ErrorReport {
  const values = valuesFor(error);
  const causes: CauseReport[] = [];
  const seen = new Set<unknown>([error]);
  for (
    let cause = error instanceof Error ? error.cause : undefined;
    cause !== undefined && cause !== null && !seen.has(cause) && causes.length < MAX_CAUSES;
    cause = cause instanceof Error ? cause.cause : undefined
  ) {
    seen.add(cause);
    causes.push(describeOne(cause, values));
  }
  const top = describeOne(error, values);
  // A config that does not load says why only in its cause: show that one always.
  const configCause =
    CmekError.isInstance(error) && error.code === 'CMEK_CONFIG' && causes[0] !== undefined
      ? `: ${causes[0].message}`
      : '';
  return {
    ...top,
    message: `${top.message}${configCause}`.slice(0, MAX_MESSAGE),
    retryable: CmekError.isInstance(error) && error.retryable,
    ...(options.store === undefined ? {} : { store: options.store }),
    ...(options.verbose === true ? { causes } : {}),
  };
}

/** The exit code of a command that threw: 2 for a usage or configuration error, else 1. */
export function exitCodeOfError(error: unknown): ExitCode {
  return CmekError.isInstance(error) && USAGE_CODES.has(error.code) ? EXIT.usage : EXIT.failure;
}

/** The lines printed on stderr: `cmek: <message> [<code>]`, then the causes under `--verbose`. */
export function errorLines(report: ErrorReport): string[] {
  const code = report.code === null ? '' : ` [${report.code}]`;
  const head = report.code?.startsWith('CMEK_')
    ? report.message
    : `${report.name}: ${report.message}`;
  const where = report.store === undefined ? '' : ` (store ${report.store})`;
  return [
    `cmek: ${head}${code}${where}`,
    ...(report.causes ?? []).map(
      (c) => `  caused by ${c.name}${c.code === null ? '' : ` [${c.code}]`}: ${c.message}`,
    ),
  ];
}
