/**
 * The Vault provider against a real Vault (dev mode, Transit): `scripts/services/vault.sh start`
 * (or `scripts/services/up.sh vault`) provides CMEK_VAULT_ADDR and CMEK_VAULT_TOKEN.
 */
import { inspect } from 'node:util';
import {
  CmekDecryptionError,
  CmekKekAccessDeniedError,
  CmekKekUnavailableError,
  createEnvelope,
  createKeyring,
  type Row,
  type RowStore,
} from '@cmek/core';
import { rewrap as rewrapStore } from '@cmek/core/engine';
import { providerConformanceSuite, serviceUrl } from '@cmek/test-suite';
import nodeVault from 'node-vault';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVaultKekProvider, type VaultClient, type VaultRequestOptions } from '../src/index';
import { rejection } from './rejection';
import {
  createKey,
  putPolicy,
  rotateKey,
  setMinDecryptionVersion,
  ThrowawayVault,
  tokenWithPolicies,
  type VaultAdmin,
} from './vault-admin';

const start = 'bash scripts/services/vault.sh start';
const addr = serviceUrl({ name: 'Vault', env: 'CMEK_VAULT_ADDR', start });
const rootToken = addr ? serviceUrl({ name: 'Vault', env: 'CMEK_VAULT_TOKEN', start }) : undefined;
const admin: VaultAdmin = { addr: addr ?? '', token: rootToken ?? '' };
const CONTEXT = { field: 'users.secret' };

/** The wrapped DEK inside a token, read by this test from the wire format (SPEC §1-2). */
function wrappedIn(token: string): string {
  const kek = token.slice('cmek:v1:'.length).split('|')[0] as string;
  const record = Buffer.from(kek, 'base64url');
  const p = record[1] as number;
  const k = record.readUInt16BE(2 + p);
  expect(record.subarray(2, 2 + p).toString('ascii')).toBe('vault');
  return record.subarray(4 + p + k).toString('latin1');
}

/** node-vault's client with every request counted (one `request` is one HTTP call). */
function countingClient(): { client: VaultClient; requests: VaultRequestOptions[] } {
  const inner = nodeVault({ endpoint: admin.addr });
  const requests: VaultRequestOptions[] = [];
  return {
    requests,
    client: {
      request(options) {
        requests.push({ ...options });
        return inner.request(options);
      },
    },
  };
}

class MemoryStore implements RowStore {
  readonly name = 'users';
  readonly fields = ['secret'];
  readonly rows = new Map<number, string>();
  contextFor(): Record<string, string> {
    return { ...CONTEXT };
  }
  async scan(after: string | number | undefined, limit: number): Promise<Row[]> {
    return [...this.rows.entries()]
      .filter(([id]) => after === undefined || id > Number(after))
      .sort(([a], [b]) => a - b)
      .slice(0, limit)
      .map(([id, secret]) => ({ id, values: { secret } }));
  }
  async compareAndSet(id: string | number, _field: string, expected: string, next: string) {
    if (this.rows.get(Number(id)) !== expected) return false;
    this.rows.set(Number(id), next);
    return true;
  }
}

describe.skipIf(!addr)('Vault Transit (real server)', () => {
  const keys: { a: string; b: string } = { a: '', b: '' };

  providerConformanceSuite(
    { describe, it, beforeAll, afterAll },
    {
      async setup() {
        keys.a = await createKey(admin, 'conformance-a');
        keys.b = await createKey(admin, 'conformance-b');
      },
      create: async () =>
        createVaultKekProvider({ endpoint: admin.addr, token: admin.token, keyName: keys.a }),
      createOther: async () =>
        createVaultKekProvider({ endpoint: admin.addr, token: admin.token, keyName: keys.b }),
    },
    {
      name: 'KEK provider conformance (vault)',
      features: { unwrapMany: true, rewrap: true, wrap: true, close: true },
    },
  );

  it('after a key rotation, rewrap turns vault:v1 into vault:v2 and the value still decrypts', async () => {
    const name = await createKey(admin, 'rotate');
    const provider = createVaultKekProvider({
      endpoint: admin.addr,
      token: admin.token,
      keyName: name,
    });
    const writer = createEnvelope({ kek: provider, dekCache: false });
    const token = await writer.encrypt('rotated secret', { context: CONTEXT });
    const original = wrappedIn(token);
    expect(original).toMatch(/^vault:v1:/);

    await rotateKey(admin, name);
    // The provider's own rewrap: the DEK stays in Vault, the ciphertext moves to v2.
    const moved = await provider.rewrap(
      new Uint8Array(Buffer.from(original, 'latin1')),
      provider.keyRef,
    );
    expect(moved.keyRef).toBe(`transit/${name}`);
    expect(Buffer.from(moved.wrapped).toString('latin1')).toMatch(/^vault:v2:/);
    const before = await provider.unwrap(
      new Uint8Array(Buffer.from(original, 'latin1')),
      provider.keyRef,
    );
    const after = await provider.unwrap(moved.wrapped, moved.keyRef);
    expect(Buffer.from(after).equals(Buffer.from(before))).toBe(true);

    // The same through the core's rewrap engine over a store: the token is rewritten in place.
    const store = new MemoryStore();
    store.rows.set(1, token);
    const report = await rewrapStore(store, {
      keyring: createKeyring({ primary: provider }),
      includePrimary: true,
    });
    expect(report.deks?.serverSide).toBe(1);
    const rewritten = store.rows.get(1) as string;
    expect(rewritten).not.toBe(token);
    expect(wrappedIn(rewritten)).toMatch(/^vault:v2:/);
    // The Fernet part is untouched; a fresh reader (no cache) decrypts the moved value.
    expect(rewritten.split('|').slice(1)).toEqual(token.split('|').slice(1));
    const reader = createEnvelope({
      kek: createVaultKekProvider({ endpoint: admin.addr, token: admin.token, keyName: name }),
      decryptCache: false,
    });
    expect(await reader.decrypt(rewritten, { context: CONTEXT })).toBe('rotated secret');
    await Promise.all([writer.close(), reader.close()]);
  });

  it('raising min_decryption_version makes old values fail with an error that says so', async () => {
    const name = await createKey(admin, 'min-version');
    const provider = createVaultKekProvider({
      endpoint: admin.addr,
      token: admin.token,
      keyName: name,
    });
    const writer = createEnvelope({ kek: provider, dekCache: false });
    const old = await writer.encrypt('written under v1', { context: CONTEXT });
    await rotateKey(admin, name);
    const fresh = await writer.encrypt('written under v2', { context: CONTEXT });
    expect(wrappedIn(fresh)).toMatch(/^vault:v2:/);
    await setMinDecryptionVersion(admin, name, 2);

    const reader = createEnvelope({ kek: provider, decryptCache: false });
    expect(await reader.decrypt(fresh, { context: CONTEXT })).toBe('written under v2');
    const error = await rejection(reader.decrypt(old, { context: CONTEXT }));
    expect(CmekDecryptionError.isInstance(error)).toBe(true);
    expect(error.message).toContain('min_decryption_version');
    expect(error.message).toContain('key version 1');
    expect(error.message).toContain(`transit/${name}`);

    // The provider directly, single and batched: the same error for the old DEK.
    const oldWrapped = new Uint8Array(Buffer.from(wrappedIn(old), 'latin1'));
    const single = await rejection(provider.unwrap(oldWrapped, provider.keyRef));
    expect(single.message).toContain('min_decryption_version');
    const freshWrapped = new Uint8Array(Buffer.from(wrappedIn(fresh), 'latin1'));
    const batched = await rejection(
      provider.unwrapMany([
        { wrapped: freshWrapped, keyRef: provider.keyRef },
        { wrapped: oldWrapped, keyRef: provider.keyRef },
      ]),
    );
    expect(CmekDecryptionError.isInstance(batched)).toBe(true);
    expect(batched.message).toContain('min_decryption_version');
    expect(batched.message).toContain('key version 1');
    await writer.close();
  });

  it('opens 1,000 distinct DEKs with ceil(1000 / batchSize) HTTP requests', async () => {
    const name = await createKey(admin, 'batch');
    const writer = createEnvelope({
      kek: createVaultKekProvider({ endpoint: admin.addr, token: admin.token, keyName: name }),
      dekCache: false,
    });
    const plaintexts = Array.from({ length: 1000 }, (_, i) => `value ${i}`);
    const tokens: string[] = [];
    for (let i = 0; i < plaintexts.length; i += 50) {
      tokens.push(
        ...(await Promise.all(
          plaintexts.slice(i, i + 50).map((p) => writer.encrypt(p, { context: CONTEXT })),
        )),
      );
    }
    expect(new Set(tokens.map(wrappedIn)).size).toBe(1000);

    const batchSize = 250;
    const { client, requests } = countingClient();
    const provider = createVaultKekProvider({
      client,
      token: admin.token,
      keyName: name,
      batchSize,
    });
    // Through the envelope: its read cache sends every miss of the batch to unwrapMany.
    const reader = createEnvelope({ kek: provider, decryptCache: { maxEntries: 2000 } });
    expect(await reader.decryptMany(tokens, { context: CONTEXT })).toEqual(plaintexts);
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.length).toBeLessThanOrEqual(Math.ceil(1000 / batchSize));
    for (const request of requests) {
      expect(request.path).toBe(`/transit/decrypt/${name}`);
      const input = request.json?.batch_input;
      expect(Array.isArray(input) && input.length <= batchSize).toBe(true);
    }

    // And the provider alone, with another batch size.
    const counted = countingClient();
    const direct = createVaultKekProvider({
      client: counted.client,
      token: admin.token,
      keyName: name,
      batchSize: 100,
    });
    const wrapped = tokens.map((t) => ({
      wrapped: new Uint8Array(Buffer.from(wrappedIn(t), 'latin1')),
      keyRef: direct.keyRef,
    }));
    const deks = await direct.unwrapMany(wrapped);
    expect(deks).toHaveLength(1000);
    expect(counted.requests).toHaveLength(10);
    expect(new Set(deks.map((d) => Buffer.from(d).toString('hex'))).size).toBe(1000);
    const spot = await direct.unwrap(wrapped[737]!.wrapped, direct.keyRef);
    expect(Buffer.from(spot).equals(Buffer.from(deks[737]!))).toBe(true);
    await Promise.all([writer.close(), reader.close()]);
  });

  it('the README policies: writers generate, readers decrypt, rotators rewrap, and nothing more', async () => {
    const name = await createKey(admin, 'policy');
    const suffix = name;
    await putPolicy(
      admin,
      `cmek-writer-${suffix}`,
      `path "transit/datakey/plaintext/${name}" {\n  capabilities = ["update"]\n}\n`,
    );
    await putPolicy(
      admin,
      `cmek-reader-${suffix}`,
      `path "transit/decrypt/${name}" {\n  capabilities = ["update"]\n}\n`,
    );
    await putPolicy(
      admin,
      `cmek-rotator-${suffix}`,
      `path "transit/rewrap/${name}" {\n  capabilities = ["update"]\n}\npath "transit/keys/${name}/rotate" {\n  capabilities = ["update"]\n}\n`,
    );
    const as = async (policy: string) =>
      createVaultKekProvider({
        endpoint: admin.addr,
        token: await tokenWithPolicies(admin, [`cmek-${policy}-${suffix}`]),
        keyName: name,
      });
    const writer = await as('writer');
    const reader = await as('reader');
    const rotator = await as('rotator');

    const { plaintext, wrapped } = await writer.generateDataKey();
    const dek = Buffer.from(plaintext);
    expect(Buffer.from(await reader.unwrap(wrapped, reader.keyRef)).equals(dek)).toBe(true);
    const moved = await rotator.rewrap(wrapped, rotator.keyRef);
    expect(Buffer.from(await reader.unwrap(moved.wrapped, moved.keyRef)).equals(dek)).toBe(true);

    for (const denied of [
      () => writer.unwrap(wrapped, writer.keyRef),
      () => reader.generateDataKey(),
      () => reader.rewrap(wrapped, reader.keyRef),
      () => rotator.unwrap(wrapped, rotator.keyRef),
    ]) {
      const error = await rejection(denied());
      expect(CmekKekAccessDeniedError.isInstance(error)).toBe(true);
      expect(error.message).toContain('403');
    }
  });

  it('a 403 asks the tokenProvider once for a new token and retries', async () => {
    const name = await createKey(admin, 'refresh');
    await putPolicy(
      admin,
      `cmek-none-${name}`,
      'path "sys/nothing" {\n  capabilities = ["read"]\n}\n',
    );
    const weak = await tokenWithPolicies(admin, [`cmek-none-${name}`]);
    const issued: string[] = [];
    const provider = createVaultKekProvider({
      endpoint: admin.addr,
      keyName: name,
      tokenProvider: () => {
        const token = issued.length === 0 ? weak : admin.token;
        issued.push(token);
        return token;
      },
    });
    const { plaintext, wrapped } = await provider.generateDataKey();
    expect(issued).toEqual([weak, admin.token]);
    expect(
      Buffer.from(await provider.unwrap(wrapped, provider.keyRef)).equals(Buffer.from(plaintext)),
    ).toBe(true);
    expect(issued).toHaveLength(2);

    // A provider whose every token is refused gives up after one refresh.
    let asked = 0;
    const hopeless = createVaultKekProvider({
      endpoint: admin.addr,
      keyName: name,
      tokenProvider: () => {
        asked++;
        return weak;
      },
    });
    const error = await rejection(hopeless.unwrap(wrapped, hopeless.keyRef));
    expect(CmekKekAccessDeniedError.isInstance(error)).toBe(true);
    expect(asked).toBe(2);
  });

  it('a server killed mid-run makes calls fail with CmekKekUnavailableError, the token nowhere in it', async () => {
    const bin = serviceUrl({ name: 'Vault binary', env: 'CMEK_VAULT_BIN', start });
    expect(bin, 'vault.sh writes CMEK_VAULT_BIN').toBeTruthy();
    const vault = await ThrowawayVault.start(bin as string);
    try {
      const name = await createKey(vault, 'killed');
      const provider = createVaultKekProvider({
        endpoint: vault.addr,
        token: vault.token,
        keyName: name,
        requestTimeoutMs: 5000,
      });
      const { plaintext, wrapped } = await provider.generateDataKey();
      const dek = Buffer.from(plaintext);
      // A reader running in a loop; the server dies under it.
      let opened = 0;
      const loop = (async () => {
        for (;;) {
          const out = await provider.unwrap(wrapped, provider.keyRef);
          expect(Buffer.from(out).equals(dek)).toBe(true);
          if (++opened === 20) void vault.kill();
        }
      })();
      const error = await rejection(loop);
      expect(opened).toBeGreaterThanOrEqual(20);
      expect(CmekKekUnavailableError.isInstance(error)).toBe(true);
      expect(error.retryable).toBe(true);
      expect(error.cause).toBeInstanceOf(Error);
      // Later calls too, of every kind.
      for (const call of [
        () => provider.generateDataKey(),
        () => provider.unwrap(wrapped, provider.keyRef),
        () => provider.unwrapMany([{ wrapped, keyRef: provider.keyRef }]),
        () => provider.rewrap(wrapped, provider.keyRef),
      ]) {
        const later = await rejection(call());
        expect(CmekKekUnavailableError.isInstance(later)).toBe(true);
        expect(later.message).toMatch(/ECONNREFUSED|ECONNRESET/);
        const everything = `${later.message}\n${later.stack}\n${inspect(later, { depth: Number.POSITIVE_INFINITY, showHidden: true })}\n${JSON.stringify(later.cause, Object.getOwnPropertyNames(later.cause))}`;
        expect(everything).not.toContain(vault.token);
      }
    } finally {
      await vault.kill();
    }
  });
});
