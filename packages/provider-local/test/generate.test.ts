import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CmekKeyFileError } from '@cmek/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalKekProvider, generateKekFile } from '../src/index';
import { assertNoSecret, makeTempDir, rejection } from './support';

let dir: string;
let remove: () => void;
beforeEach(() => {
  ({ dir, remove } = makeTempDir());
});
afterEach(() => remove());

describe('generateKekFile', () => {
  it('writes 32 random bytes with mode 0600 and returns their keyRef', async () => {
    const path = join(dir, 'kek.bin');
    const result = await generateKekFile(path);
    const stats = statSync(path);
    expect(stats.isFile()).toBe(true);
    expect(stats.mode & 0o777).toBe(0o600);
    expect(stats.uid).toBe(process.getuid?.());
    const bytes = readFileSync(path);
    expect(bytes.length).toBe(32);
    const digest = createHash('sha256').update('cmek:v1:local-kek').update(bytes).digest();
    expect(result).toEqual({ path, keyRef: digest.subarray(0, 8).toString('hex') });
    // No temporary file is left behind.
    expect(readdirSync(dir)).toEqual(['kek.bin']);
    // The file it writes loads.
    expect((await createLocalKekProvider({ path })).keyRef).toBe(result.keyRef);
  });

  it('writes a different key each time', async () => {
    const a = await generateKekFile(join(dir, 'a.key'));
    const b = await generateKekFile(join(dir, 'b.key'));
    expect(a.keyRef).not.toBe(b.keyRef);
  });

  it('keeps mode 0600 under a permissive umask', async () => {
    const previous = process.umask(0);
    try {
      await generateKekFile(join(dir, 'umask.key'));
    } finally {
      process.umask(previous);
    }
    expect(statSync(join(dir, 'umask.key')).mode & 0o777).toBe(0o600);
  });

  it('refuses to overwrite an existing file and leaves it untouched', async () => {
    const path = join(dir, 'existing.key');
    const { keyRef } = await generateKekFile(path);
    const before = readFileSync(path);
    const error = await rejection(generateKekFile(path));
    expect(error).toBeInstanceOf(CmekKeyFileError);
    expect(error.message).toContain(path);
    expect(error.message).toMatch(/already exists/);
    assertNoSecret(error, before);
    expect(readFileSync(path)).toEqual(before);
    expect((await createLocalKekProvider({ path })).keyRef).toBe(keyRef);
    expect(readdirSync(dir)).toEqual(['existing.key']);
  });

  it('refuses to overwrite any file, even one that is not a key', async () => {
    const path = join(dir, 'notes.txt');
    writeFileSync(path, 'keep me');
    await expect(generateKekFile(path)).rejects.toBeInstanceOf(CmekKeyFileError);
    expect(readFileSync(path, 'utf8')).toBe('keep me');
  });

  it('replaces an existing file only with overwrite: true', async () => {
    const path = join(dir, 'replace.key');
    const first = await generateKekFile(path);
    const second = await generateKekFile(path, { overwrite: true });
    expect(second.keyRef).not.toBe(first.keyRef);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect((await createLocalKekProvider({ path })).keyRef).toBe(second.keyRef);
    expect(readdirSync(dir)).toEqual(['replace.key']);
  });

  it('reports a missing directory as a CmekKeyFileError naming the path', async () => {
    const path = join(dir, 'no', 'such', 'dir', 'kek.bin');
    const error = await rejection(generateKekFile(path));
    expect(error).toBeInstanceOf(CmekKeyFileError);
    expect(error.message).toContain(path);
  });

  it('rejects an empty path as a configuration error', async () => {
    expect((await rejection(generateKekFile(''))).code).toBe('CMEK_CONFIG');
  });
});
