/**
 * The real services: the shared moto server (KMS) and Vault from `scripts/services/`, keys made
 * over their HTTP APIs (not through the providers under test), and a private moto server of this
 * package's own that a test may kill.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect, createServer } from 'node:net';
import { resolve } from 'node:path';
import { serviceUrl } from '@cmek/test-suite';

const MOTO_SH = resolve(import.meta.dirname, '../../../../scripts/services/moto.sh');

export const REGION = 'us-east-1';

export function motoEndpoint(): string | undefined {
  return serviceUrl({
    name: 'moto server (KMS)',
    env: 'CMEK_KMS_ENDPOINT',
    start: 'bash scripts/services/up.sh moto',
  });
}

export function vaultService(): { addr: string; token: string } | undefined {
  const start = 'bash scripts/services/up.sh vault';
  const addr = serviceUrl({ name: 'Vault', env: 'CMEK_VAULT_ADDR', start });
  const token = addr ? serviceUrl({ name: 'Vault', env: 'CMEK_VAULT_TOKEN', start }) : undefined;
  return addr && token ? { addr, token } : undefined;
}

/** A KMS key made with moto's JSON API (moto does not check the signature); returns its ARN. */
export async function createKmsKey(endpoint: string): Promise<string> {
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: {
      'X-Amz-Target': 'TrentService.CreateKey',
      'Content-Type': 'application/x-amz-json-1.1',
      Authorization: `AWS4-HMAC-SHA256 Credential=testing/20240101/${REGION}/kms/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: JSON.stringify({ Description: 'cmek opentelemetry test' }),
  });
  const body = (await response.json()) as { KeyMetadata?: { Arn?: string } };
  const arn = body.KeyMetadata?.Arn;
  if (!response.ok || arn === undefined) throw new Error(`moto CreateKey: ${response.status}`);
  return arn;
}

/** A Transit key with a name no other run uses. */
export async function createTransitKey(vault: { addr: string; token: string }): Promise<string> {
  const name = `opentelemetry-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  const response = await fetch(`${vault.addr}/v1/transit/keys/${name}`, {
    method: 'POST',
    headers: { 'X-Vault-Token': vault.token, 'Content-Type': 'application/json' },
    body: JSON.stringify({ type: 'aes256-gcm96' }),
  });
  if (!response.ok)
    throw new Error(`Vault create key: ${response.status} ${await response.text()}`);
  return name;
}

function freePort(): Promise<number> {
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

/**
 * A moto server of this test's own (`moto.sh run PORT` execs `python3 -m moto.server` on
 * 127.0.0.1): the shared one is never stopped.
 */
export class PrivateMoto {
  private constructor(
    readonly port: number,
    private readonly child: ChildProcess,
    private readonly exited: Promise<void>,
  ) {}

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<PrivateMoto> {
    const port = await freePort();
    const child = spawn('bash', [MOTO_SH, 'run', String(port)], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    const exited = new Promise<void>((done) => child.once('exit', () => done()));
    const moto = new PrivateMoto(port, child, exited);
    const deadline = Date.now() + 60_000;
    while (!(await accepts(port))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        await moto.kill();
        throw new Error(`the private moto server did not start on ${port}: ${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    return moto;
  }

  /** SIGKILL, then wait until it is gone: its port refuses connections from then on. */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }
}
