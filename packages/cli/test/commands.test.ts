import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inspectToken } from '@cmek/core';
import { describe, expect, it } from 'vitest';
import { appEnvelope } from './support/app';
import { cmek, report } from './support/cli';
import { configSource } from './support/fixture-config';
import { seedSqlite, tempDir } from './support/sqlite';

async function project() {
  const dir = tempDir();
  const key = join(dir, 'k.key');
  const keygen = await cmek(['keygen', key, '--json']);
  expect(keygen.code).toBe(0);
  seedSqlite(join(dir, 'app.sqlite'), 'users', 10);
  writeFileSync(
    join(dir, 'cmek.config.ts'),
    configSource({
      client: 'better-sqlite3',
      connection: join(dir, 'app.sqlite'),
      table: 'users',
      columns: ['secret'],
      primary: { file: key },
    }),
  );
  return { dir, key, keyRef: report<{ keyRef: string }>(keygen).keyRef };
}

describe('cmek keygen', () => {
  it('writes a 32-byte key file with mode 0600 and never replaces one', async () => {
    const { key, keyRef } = await project();
    expect(statSync(key).mode & 0o777).toBe(0o600);
    expect(readFileSync(key)).toHaveLength(32);
    expect(keyRef).toMatch(/^[0-9a-f]{16}$/);
    const again = await cmek(['keygen', key]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('CMEK_KEY_FILE');
  });
});

describe('cmek inspect and decrypt', () => {
  it('inspect shows the routing data; decrypt prints the value and warns on stderr', async () => {
    const { dir, key, keyRef } = await project();
    const envelope = await appEnvelope(key);
    const token = await envelope.encrypt('hunter2', { context: { field: 'users.secret' } });
    await envelope.close();

    const inspected = await cmek(['inspect', token, '--json']);
    expect(inspected.code).toBe(0);
    expect(JSON.parse(inspected.stdout)).toEqual(inspectToken(token));
    expect(JSON.parse(inspected.stdout)).toMatchObject({ providerId: 'local', keyRef });
    const fromStdin = await cmek(['inspect', '-'], { stdin: `${token}\n` });
    expect(fromStdin.stdout).toContain(`keyRef    ${keyRef}`);
    expect(fromStdin.stdout).not.toContain(token);

    const byStore = await cmek(['decrypt', token, '--store', 'users', '--field', 'secret'], {
      cwd: dir,
    });
    expect(byStore.code).toBe(0);
    expect(byStore.stdout).toBe('hunter2\n');
    expect(byStore.stderr).toContain('warning');
    expect(byStore.stderr).not.toContain('hunter2');
    const byContext = await cmek(['decrypt', '-', '--context', 'field=users.secret'], {
      cwd: dir,
      stdin: token,
    });
    expect(byContext.stdout).toBe('hunter2\n');
    // The wrong context is a decryption error, and nothing is printed.
    const wrong = await cmek(['decrypt', token, '--context', 'field=users.other'], { cwd: dir });
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toBe('');
    expect(wrong.stderr).toContain('CMEK_DECRYPTION');
    expect(wrong.stderr).not.toContain(token);

    const malformed = await cmek(['inspect', 'cmek:v1:AAAA|x|y']);
    expect(malformed.code).toBe(1);
    expect(malformed.stderr).toContain('CMEK_FORMAT');
  });
});

describe('usage and configuration errors exit 2', () => {
  it('an unknown option, an unknown store, a missing config', async () => {
    const { dir } = await project();
    const unknown = await cmek(['backfill', '--bogus'], { cwd: dir });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown option '--bogus'");
    const store = await cmek(['verify', '--store', 'nope'], { cwd: dir });
    expect(store.code).toBe(2);
    expect(store.stderr).toContain("no store named 'nope'");
    const missing = await cmek(['verify'], { cwd: tempDir() });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('cmek.config');
    const batch = await cmek(['backfill', '--batch', '0'], { cwd: dir });
    expect(batch.code).toBe(2);
    const half = await cmek(['rotate', '--old-key-file', 'x'], { cwd: dir });
    expect(half.code).toBe(2);
    expect(half.stderr).toContain('--new-key-file');
  });

  it('--help exits 0 and lists the commands', async () => {
    const help = await cmek(['--help']);
    expect(help.code).toBe(0);
    for (const command of ['keygen', 'backfill', 'rotate', 'verify', 'inspect', 'decrypt']) {
      expect(help.stdout).toContain(command);
    }
  });
});

describe('an interrupted run', () => {
  it('stops after the batch in flight, keeps the checkpoint and exits 130', async () => {
    const { dir } = await project();
    const controller = new AbortController();
    controller.abort();
    const result = await cmek(['backfill', '--json'], { cwd: dir, signal: controller.signal });
    expect(result.code).toBe(130);
    expect(report<{ stores: { status: string }[] }>(result).stores[0]!.status).toBe('aborted');
  });
});
