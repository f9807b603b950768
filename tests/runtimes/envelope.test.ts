/**
 * `@cmek/core` and `@cmek/provider-local`, as built (`dist/index.js`), on Bun and Deno: a key
 * file, an envelope, a round trip under a context, a wrong context, and tokens crossing between
 * Node (this process) and the runtime in both directions. The runtime's side is
 * `fixtures/envelope.mjs`.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEnvelope, inspectToken } from '@cmek/core';
import { createLocalKekProvider, generateKekFile } from '@cmek/provider-local';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeRuntime, installedVersion, missingBuilds, run, runtimes } from './runtimes';

const script = join(import.meta.dirname, 'fixtures', 'envelope.mjs');
const context = { table: 'users', column: 'email', id: '42' };

interface ScriptResult {
  keyRef: string;
  token: string;
  info: unknown;
  roundTrip: string;
  wrongContext: { code: string; isInstance: boolean; instanceOf: boolean } | string;
  nodePlaintext: string;
  forNode: string;
}

let dir: string;
let nodeKeyFile: string;
let nodeToken: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cmek-runtimes-'));
  nodeKeyFile = (await generateKekFile(join(dir, 'node-kek'))).path;
  const envelope = createEnvelope({ kek: await createLocalKekProvider({ path: nodeKeyFile }) });
  nodeToken = await envelope.encrypt('written by Node', { context });
  await envelope.close();
});

afterAll(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

it('the built packages exist (pnpm exec turbo run build)', () => {
  expect(missingBuilds()).toEqual([]);
});

for (const runtime of runtimes) {
  describeRuntime(runtime, () => {
    it(`${runtime.label}: the binary is the version the lockfile installs`, () => {
      const name = runtime.name === 'Bun' ? 'bun' : 'deno';
      expect(runtime.version).toBe(installedVersion(name));
    });

    it(`${runtime.label}: core + provider-local from dist: key file, round trip, wrong context, tokens to and from Node`, async () => {
      const own = mkdtempSync(join(dir, `${runtime.name.toLowerCase()}-`));
      const result = await run(runtime, script, [own, nodeKeyFile, nodeToken], { cwd: own });
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const out = JSON.parse(result.stdout) as ScriptResult;

      // generateKekFile: 32 bytes, mode 0600 (POSIX), its keyRef on the runtime's tokens.
      const keyFile = join(own, 'kek');
      expect(statSync(keyFile).size).toBe(32);
      if (process.platform !== 'win32') expect(statSync(keyFile).mode & 0o777).toBe(0o600);
      expect(out.info).toEqual(inspectToken(out.token));
      expect(out.info).toMatchObject({ version: 'v1', providerId: 'local', keyRef: out.keyRef });

      expect(out.roundTrip).toBe('ada@example.com');
      expect(out.wrongContext).toEqual({
        code: 'CMEK_DECRYPTION',
        isInstance: true,
        instanceOf: true,
      });
      expect(out.nodePlaintext).toBe('written by Node');

      // And back: Node decrypts what the runtime wrote, under Node's key and under the runtime's.
      const underNodeKey = createEnvelope({
        kek: await createLocalKekProvider({ path: nodeKeyFile }),
      });
      const underRuntimeKey = createEnvelope({
        kek: await createLocalKekProvider({ path: keyFile }),
      });
      try {
        await expect(underNodeKey.decrypt(out.forNode, { context })).resolves.toBe(
          'written by another runtime',
        );
        await expect(underRuntimeKey.decrypt(out.token, { context })).resolves.toBe(
          'ada@example.com',
        );
        await expect(
          underRuntimeKey.decrypt(out.token, { context: { ...context, id: '43' } }),
        ).rejects.toMatchObject({ code: 'CMEK_DECRYPTION' });
      } finally {
        await underNodeKey.close();
        await underRuntimeKey.close();
      }
    });
  });
}
