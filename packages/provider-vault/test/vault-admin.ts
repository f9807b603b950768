/**
 * Test helpers that talk to Vault directly over HTTP (not through the provider under test): key
 * creation, rotation, key config, policies and tokens; and a throwaway dev server.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';

export interface VaultAdmin {
  readonly addr: string;
  readonly token: string;
}

/** One Vault HTTP call as the root token; throws with Vault's errors on a non-2xx answer. */
export async function vaultApi(
  admin: VaultAdmin,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  body?: unknown,
): Promise<Record<string, unknown>> {
  const response = await fetch(`${admin.addr}/v1/${path}`, {
    method,
    headers: { 'X-Vault-Token': admin.token, 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`Vault ${method} ${path}: ${response.status} ${text}`);
  return text.length === 0 ? {} : (JSON.parse(text) as Record<string, unknown>);
}

/** A Transit key with a name no other test run uses. */
export async function createKey(
  admin: VaultAdmin,
  prefix: string,
  mount = 'transit',
): Promise<string> {
  const name = `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  await vaultApi(admin, 'POST', `${mount}/keys/${name}`, { type: 'aes256-gcm96' });
  return name;
}

export async function rotateKey(admin: VaultAdmin, name: string, mount = 'transit'): Promise<void> {
  await vaultApi(admin, 'POST', `${mount}/keys/${name}/rotate`, {});
}

export async function setMinDecryptionVersion(
  admin: VaultAdmin,
  name: string,
  version: number,
  mount = 'transit',
): Promise<void> {
  await vaultApi(admin, 'POST', `${mount}/keys/${name}/config`, {
    min_decryption_version: version,
  });
}

/** A child token with only the given policies (no root, no default). */
export async function tokenWithPolicies(admin: VaultAdmin, policies: string[]): Promise<string> {
  const out = await vaultApi(admin, 'POST', 'auth/token/create', {
    policies,
    no_default_policy: true,
    ttl: '10m',
  });
  return (out.auth as { client_token: string }).client_token;
}

export async function putPolicy(admin: VaultAdmin, name: string, hcl: string): Promise<void> {
  await vaultApi(admin, 'PUT', `sys/policies/acl/${name}`, { policy: hcl });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** A dev-mode Vault of its own (for a test that kills it), Transit enabled. */
export class ThrowawayVault implements VaultAdmin {
  private constructor(
    readonly addr: string,
    readonly token: string,
    private readonly child: ChildProcess,
  ) {}

  static async start(bin: string): Promise<ThrowawayVault> {
    const port = await freePort();
    const token = `throwaway-${randomBytes(12).toString('hex')}`;
    const child = spawn(
      bin,
      [
        'server',
        '-dev',
        `-dev-listen-address=127.0.0.1:${port}`,
        '-dev-no-store-token',
        '-log-level=error',
      ],
      { env: { ...process.env, VAULT_DEV_ROOT_TOKEN_ID: token }, stdio: 'ignore' },
    );
    const vault = new ThrowawayVault(`http://127.0.0.1:${port}`, token, child);
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null)
        throw new Error(`the throwaway Vault exited with ${child.exitCode}`);
      try {
        const response = await fetch(`${vault.addr}/v1/sys/health`);
        if (response.status === 200) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        await vault.kill();
        throw new Error('the throwaway Vault did not become healthy within 30 s');
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await vaultApi(vault, 'POST', 'sys/mounts/transit', { type: 'transit' });
    return vault;
  }

  /** SIGKILL, and wait for the process to be gone. */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGKILL');
    await exited;
  }
}
