/**
 * Integration support: the moto server (KMS API) from `scripts/services/moto.sh`, keys created
 * with the SDK, and a private moto server a test may stop and kill.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { resolve } from 'node:path';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import type { CmekError } from '@cmek/core';
import { serviceUrl } from '@cmek/test-suite';
import { expect } from 'vitest';

export const REGION = 'us-east-1';
/** moto accepts any credentials; these are fake on purpose. */
export const CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' } as const;

const MOTO_SH = resolve(import.meta.dirname, '../../../../scripts/services/moto.sh');

export function motoEndpoint(): string | undefined {
  return serviceUrl({
    name: 'moto server (KMS)',
    env: 'CMEK_KMS_ENDPOINT',
    start: 'bash scripts/services/up.sh moto',
  });
}

/** An admin client for creating, disabling and aliasing keys (not the client under test). */
export function adminClient(endpoint: string): KMSClient {
  return new KMSClient({ region: REGION, endpoint, credentials: CREDENTIALS });
}

/** A new symmetric encryption key; returns its ARN. */
export async function createKey(admin: KMSClient, description: string): Promise<string> {
  const out = await admin.send(new CreateKeyCommand({ Description: `cmek test: ${description}` }));
  const arn = out.KeyMetadata?.Arn;
  if (arn === undefined) throw new Error('CreateKey answered without an ARN');
  return arn;
}

/** The error a call fails with (the test fails if it succeeds). */
export async function failure(run: () => Promise<unknown>): Promise<CmekError> {
  const outcome = await run().then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(outcome).toBeInstanceOf(Error);
  return outcome as CmekError;
}

/** The name of the SDK error a cmek error wraps. */
export function causeName(error: CmekError): unknown {
  return (error.cause as { name?: unknown } | undefined)?.name;
}

/** The key id of a key ARN: moto's admin operations (DisableKey, aliases) want the bare id. */
export function bareId(arn: string): string {
  return arn.slice(arn.lastIndexOf('/') + 1);
}

export async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => done(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

/** A moto server of this test's own, on a free port: it may be paused (SIGSTOP) and killed. */
export class PrivateMoto {
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;

  private constructor(readonly port: number) {}

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<PrivateMoto> {
    const moto = new PrivateMoto(await freePort());
    await moto.launch();
    return moto;
  }

  private async launch(): Promise<void> {
    const child = spawn('bash', [MOTO_SH, 'run', String(this.port)], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    this.child = child;
    this.exited = new Promise((done) => child.once('exit', () => done()));
    const deadline = Date.now() + 60_000;
    while (!(await accepts(this.port))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`the private moto server did not start on ${this.port}: ${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** SIGSTOP: the server keeps its port and its keys but answers nothing. */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  /** SIGKILL, and wait until it is gone (its port then refuses connections). */
  async kill(): Promise<void> {
    if (this.child === undefined || this.child.exitCode !== null) return;
    this.child.kill('SIGCONT');
    this.child.kill('SIGKILL');
    await this.exited;
  }
}
