/**
 * The process wiring of `cmek`: signals, exit code. SIGINT / SIGTERM stop after the batch in
 * flight (the command then prints its report and exits 130); a second one quits at once, after
 * printing the `--json` report of what was done so far.
 */
import { type CliIo, processIo } from './io';
import { run } from './program';
import { reportForcedExit, type Session } from './session';

export async function main(overrides: Partial<CliIo> = {}): Promise<void> {
  const controller = new AbortController();
  let session: Session | undefined;
  const stop = (): void => {
    if (controller.signal.aborted) {
      if (session !== undefined) reportForcedExit(session);
      process.exit(130);
    }
    process.stderr.write(
      '\ncmek: stopping after the batch in flight (press Ctrl-C again to quit now)\n',
    );
    controller.abort();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const code = await run(
    process.argv.slice(2),
    { ...processIo(controller.signal), ...overrides },
    (s) => {
      session = s;
    },
  );
  process.exitCode = code;
  // Database pools a config forgot to close must not keep the process alive.
  setTimeout(() => process.exit(code), 1000).unref();
}
