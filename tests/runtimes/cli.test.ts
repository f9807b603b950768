/**
 * The `cmek` bin as built (`packages/cli/dist/bin.js`, what `bin` in its package.json names) on
 * Bun and Deno: `--version`, `keygen`, `inspect`, and `decrypt` with a `cmek.config.ts` (loaded
 * through jiti) whose keyring is a local key file.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createEnvelope, inspectToken } from '@cmek/core';
import { createLocalKekProvider, generateKekFile } from '@cmek/provider-local';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeRuntime, dist, repoRoot, run, runtimes } from './runtimes';

const cliVersion = (
  JSON.parse(readFileSync(join(repoRoot, 'packages/cli/package.json'), 'utf8')) as {
    version: string;
  }
).version;
const context = { table: 'users', column: 'email' };

let dir: string;
let nodeKeyFile: string;
let nodeKeyRef: string;
let nodeToken: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cmek-runtimes-cli-'));
  ({ path: nodeKeyFile, keyRef: nodeKeyRef } = await generateKekFile(join(dir, 'node-kek')));
  const envelope = createEnvelope({ kek: await createLocalKekProvider({ path: nodeKeyFile }) });
  nodeToken = await envelope.encrypt('written by Node', { context });
  await envelope.close();
});

afterAll(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

for (const runtime of runtimes) {
  describeRuntime(runtime, () => {
    let cwd: string;
    const cmek = (args: readonly string[], flags?: readonly string[]) =>
      run(runtime, dist.cliBin, args, { cwd, ...(flags ? { flags } : {}) });

    beforeAll(() => {
      cwd = mkdtempSync(join(dir, `${runtime.name.toLowerCase()}-`));
    });

    it(`${runtime.label}: cmek --version`, async () => {
      const result = await cmek(['--version']);
      expect(result).toMatchObject({ code: 0, stdout: `${cliVersion}\n`, stderr: '' });
    });

    it(`${runtime.label}: cmek keygen <file> writes a 0600 key Node loads, and never overwrites it`, async () => {
      const result = await cmek(['keygen', 'kek']);
      expect(result.code).toBe(0);
      const keyFile = join(cwd, 'kek');
      const provider = await createLocalKekProvider({ path: keyFile });
      await provider.close();
      expect(result.stdout).toBe(`wrote ${keyFile} (mode 0600), keyRef ${provider.keyRef}\n`);
      expect(result.stderr).toContain('back this file up');
      expect(statSync(keyFile).size).toBe(32);
      if (process.platform !== 'win32') expect(statSync(keyFile).mode & 0o777).toBe(0o600);

      const key = readFileSync(keyFile);
      const again = await cmek(['keygen', 'kek']);
      expect(again.code).toBe(1);
      expect(again.stdout).toBe('');
      expect(again.stderr).toContain('[CMEK_KEY_FILE]');
      expect(readFileSync(keyFile)).toEqual(key);

      const json = await cmek(['keygen', 'kek2', '--json']);
      expect(json.code).toBe(0);
      expect(JSON.parse(json.stdout)).toMatchObject({ path: join(cwd, 'kek2') });
    });

    it(`${runtime.label}: cmek inspect <token> on a token Node wrote`, async () => {
      const text = await cmek(['inspect', nodeToken]);
      expect(text.code).toBe(0);
      const info = inspectToken(nodeToken);
      expect(text.stdout).toBe(
        `version   v1\nprovider  local\nkeyRef    ${nodeKeyRef}\ndekId     ${info.dekId}\n`,
      );
      const json = await cmek(['inspect', nodeToken, '--json']);
      expect(json.code).toBe(0);
      expect(JSON.parse(json.stdout)).toEqual(info);
      const malformed = await cmek(['inspect', 'cmek:v1:AAAA|x|y']);
      expect(malformed.code).not.toBe(0);
      expect(malformed.stderr).toContain('[CMEK_FORMAT]');
    });

    it(`${runtime.label}: cmek decrypt <token> --context with a cmek.config.ts (jiti)`, async () => {
      const url = (file: string) => JSON.stringify(pathToFileURL(file).href);
      writeFileSync(
        join(cwd, 'cmek.config.ts'),
        [
          `import { createKeyring } from ${url(dist.core)};`,
          `import { createLocalKekProvider } from ${url(dist.providerLocal)};`,
          'export default {',
          '  keyring: async (): Promise<unknown> =>',
          `    createKeyring({ primary: await createLocalKekProvider({ path: ${JSON.stringify(nodeKeyFile)} }) }),`,
          '};',
          '',
        ].join('\n'),
      );
      // jiti reads environment variables (NODE_ENV, its JITI_* options): Deno needs --allow-env.
      const flags = runtime.name === 'Deno' ? ['--allow-env'] : [];
      const args = ['decrypt', nodeToken, '--context', 'table=users', '--context', 'column=email'];
      const result = await cmek(args, flags);
      expect(result.stdout).toBe('written by Node\n');
      expect(result.code).toBe(0);

      const wrong = await cmek(
        ['decrypt', nodeToken, '--context', 'table=users', '--context', 'column=phone'],
        flags,
      );
      expect(wrong.code).toBe(1);
      expect(wrong.stdout).toBe('');
      expect(wrong.stderr).toContain('[CMEK_DECRYPTION]');
    });
  });
}
