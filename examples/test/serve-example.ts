/**
 * Starts an example that is a server (`tsx src/main.ts` in its folder) and waits for its
 * `listening on http://127.0.0.1:<port>` line. Build it first with `buildExample`.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './run-example';

export interface ServerExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface ServedExample {
  readonly url: string;
  /** Everything the example wrote so far. */
  stdout(): string;
  stderr(): string;
  /** Sends `signal` to the example (as `kill <pid>` does) and waits for it to exit. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<ServerExit>;
  /** SIGKILL to the example and to what it started, unless it has exited already. */
  kill(): void;
}

export async function serveExample(
  folder: string,
  env: NodeJS.ProcessEnv,
  timeoutMs = 30_000,
): Promise<ServedExample> {
  const dir = join(ROOT, 'examples', folder);
  // detached: its own process group, so `kill` also reaches the node process tsx starts
  const child = spawn(join(dir, 'node_modules/.bin/tsx'), ['src/main.ts'], {
    cwd: dir,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  let exit: ServerExit | undefined;
  const exited = new Promise<ServerExit>((resolve) => {
    child.once('close', (code, signal) => {
      exit = { code, signal };
      resolve(exit);
    });
  });
  const kill = (): void => {
    if (exit !== undefined || child.pid === undefined) return;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  const output = () => `\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`;

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      kill();
      reject(new Error(`${folder}: no "listening on" line within ${timeoutMs} ms${output()}`));
    }, timeoutMs);
    const onData = (): void => {
      const match = /^listening on (http:\/\/127\.0\.0\.1:\d+)$/m.exec(stdout);
      if (match === null) return;
      clearTimeout(timer);
      child.stdout.off('data', onData);
      resolve(match[1]!);
    };
    child.stdout.on('data', onData);
    void exited.then((status) => {
      clearTimeout(timer);
      reject(new Error(`${folder} exited (${JSON.stringify(status)}) before listening${output()}`));
    });
  });

  return {
    url,
    stdout: () => stdout,
    stderr: () => stderr,
    async stop(signal = 'SIGTERM', stopTimeoutMs = 15_000) {
      if (exit === undefined) child.kill(signal);
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          kill();
          reject(
            new Error(`${folder} did not exit within ${stopTimeoutMs} ms of ${signal}${output()}`),
          );
        }, stopTimeoutMs);
      });
      try {
        return await Promise.race([exited, late]);
      } finally {
        clearTimeout(timer);
      }
    },
    kill,
  };
}
