/**
 * The client the provider creates verifies the server's certificate whatever VAULT_SKIP_VERIFY
 * says (node-vault alone turns verification off for any non-empty value, even "false").
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CmekError } from '@cmek/core';
import nodeVault from 'node-vault';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVaultKekProvider } from '../src/index';

let dir: string;
let server: Server;
let endpoint: string;
let requests = 0;
const saved = process.env.VAULT_SKIP_VERIFY;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cmek-vault-tls-'));
  // A self-signed certificate: no client that verifies certificates accepts it.
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  server = createServer(
    { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
    (_req, res) => {
      requests++;
      res.writeHead(403, { 'content-type': 'application/json' }).end('{"errors":["denied"]}');
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  process.env.VAULT_SKIP_VERIFY = 'false';
});

afterAll(async () => {
  if (saved === undefined) delete process.env.VAULT_SKIP_VERIFY;
  else process.env.VAULT_SKIP_VERIFY = saved;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

describe('TLS verification of the client the provider creates', () => {
  it('node-vault on its own skips verification when VAULT_SKIP_VERIFY=false (the trap)', async () => {
    const before = requests;
    const client = nodeVault({ apiVersion: 'v1', endpoint, token: 'test-token' });
    await client.read('transit/keys/app').catch(() => undefined);
    expect(requests).toBe(before + 1);
  });

  it('refuses a server whose certificate does not verify, before any request', async () => {
    const before = requests;
    const kek = createVaultKekProvider({ endpoint, token: 'test-token', keyName: 'app' });
    const error = await kek.generateDataKey().then(
      () => undefined,
      (e: unknown) => e,
    );
    // a certificate that does not verify is a setup problem, not an outage: not retryable
    expect(CmekError.isInstance(error) && error.code).toBe('CMEK_PROVIDER');
    expect((error as CmekError).retryable).toBe(false);
    expect(((error as CmekError).cause as { code?: unknown }).code).toBe(
      'DEPTH_ZERO_SELF_SIGNED_CERT',
    );
    expect(requests).toBe(before);
    await kek.close?.();
  });
});
