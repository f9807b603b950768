/** The process wiring of `cmek`: signals, exit code. SIGINT / SIGTERM stop after the batch in flight. */
import { type CliIo, processIo } from './io';
import { run } from './program';

export async function main(overrides: Partial<CliIo> = {}): Promise<void> {
  const controller = new AbortController();
  const stop = (): void => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write(
      '\ncmek: stopping after the batch in flight (press Ctrl-C again to quit now)\n',
    );
    controller.abort();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const code = await run(process.argv.slice(2), { ...processIo(controller.signal), ...overrides });
  process.exitCode = code;
  // Database pools a config forgot to close must not keep the process alive.
  setTimeout(() => process.exit(code), 1000).unref();
}
