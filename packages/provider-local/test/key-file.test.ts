import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CmekKeyFileError } from '@cmek/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalKekProvider, createLocalKekProviderFromKey } from '../src/index';
import { assertNoSecret, makeTempDir, rejection } from './support';

let dir: string;
let remove: () => void;
beforeEach(() => {
  ({ dir, remove } = makeTempDir());
});
afterEach(() => remove());

function keyFile(name: string, content: Uint8Array | string, mode = 0o600): string {
  const path = join(dir, name);
  writeFileSync(path, content, { mode });
  chmodSync(path, mode);
  return path;
}

async function refusal(path: string, fix: RegExp, secret: Uint8Array = Buffer.alloc(0)) {
  const error = await rejection(createLocalKekProvider({ path }));
  expect(error).toBeInstanceOf(CmekKeyFileError);
  expect(error.code).toBe('CMEK_KEY_FILE');
  expect((error as CmekKeyFileError).path).toBe(path);
  expect(error.message).toContain(path);
  expect(error.message).toMatch(fix);
  if (secret.length > 0) assertNoSecret(error, secret);
  return error;
}

describe('loading the KEK file', () => {
  it('accepts 32 raw bytes with mode 0600 and derives the keyRef from them', async () => {
    const key = randomBytes(32);
    const provider = await createLocalKekProvider({ path: keyFile('raw.key', key) });
    expect(provider.providerId).toBe('local');
    expect(provider.keyRef).toBe(createLocalKekProviderFromKey(key).keyRef);
  });

  it('accepts 0700 (group and other bits are what matters)', async () => {
    const key = randomBytes(32);
    const provider = await createLocalKekProvider({ path: keyFile('x.key', key, 0o700) });
    expect(provider.keyRef).toBe(createLocalKekProviderFromKey(key).keyRef);
  });

  it('accepts 0400 (read-only for the owner)', async () => {
    const key = randomBytes(32);
    const provider = await createLocalKekProvider({ path: keyFile('ro.key', key, 0o400) });
    expect(provider.keyRef).toBe(createLocalKekProviderFromKey(key).keyRef);
  });

  it.each([
    ['base64', (k: Buffer) => k.toString('base64')],
    ['base64 without padding', (k: Buffer) => k.toString('base64').replace(/=$/, '')],
    ['base64url', (k: Buffer) => k.toString('base64url')],
    ['base64url with padding', (k: Buffer) => `${k.toString('base64url')}=`],
    ['base64 with surrounding whitespace', (k: Buffer) => `\n  ${k.toString('base64')}\r\n\t\n`],
    ['base64url with a trailing newline', (k: Buffer) => `${k.toString('base64url')}\n`],
  ])('accepts the key as %s text', async (_name, encode) => {
    // A key whose encoding has both alphabets' special characters in it.
    let key = randomBytes(32);
    while (!/[+/]/.test(key.toString('base64'))) key = randomBytes(32);
    const provider = await createLocalKekProvider({ path: keyFile('text.key', encode(key)) });
    expect(provider.keyRef).toBe(createLocalKekProviderFromKey(key).keyRef);
  });

  it('takes a 32-byte file as raw bytes even when it looks like text', async () => {
    const key = Buffer.from('abcdefghijklmnopqrstuvwxyz012345', 'latin1');
    const provider = await createLocalKekProvider({ path: keyFile('ascii.key', key) });
    expect(provider.keyRef).toBe(createLocalKekProviderFromKey(key).keyRef);
  });

  it.each([
    [0o640, '640'],
    [0o604, '604'],
    [0o660, '660'],
    [0o601, '601'],
  ])('refuses mode %o (%s) with the chmod fix', async (mode, shown) => {
    const key = randomBytes(32);
    const path = keyFile('open.key', key, mode);
    const error = await refusal(path, new RegExp(`chmod 600 ${path}`), key);
    expect(error.message).toContain(`mode ${shown}`);
  });

  it('refuses a directory', async () => {
    const path = join(dir, 'a-directory');
    mkdirSync(path, { mode: 0o700 });
    await refusal(path, /is a directory.*cmek keygen/);
  });

  it('refuses a symbolic link, even to a good key file', async () => {
    const key = randomBytes(32);
    const target = keyFile('target.key', key);
    const path = join(dir, 'link.key');
    symlinkSync(target, path);
    await refusal(path, /symbolic link.*point the path at the key file itself/, key);
  });

  it('refuses a missing file and suggests cmek keygen', async () => {
    const path = join(dir, 'missing.key');
    await refusal(path, new RegExp(`no KEK file.*cmek keygen ${path}`));
  });

  it('refuses a file not owned by the process user, with the chown fix', async () => {
    const uid = process.getuid!();
    if (uid === 0) {
      // As root: a key file given away to nobody.
      const key = randomBytes(32);
      const path = keyFile('foreign.key', key);
      chownSync(path, 65534, 65534);
      const error = await refusal(path, new RegExp(`chown 0 ${path}`), key);
      expect(error.message).toContain('uid 65534');
    } else {
      // As any other user: a file root owns (the owner is checked before the mode).
      const error = await refusal('/etc/passwd', new RegExp(`chown ${uid} /etc/passwd`));
      expect(error.message).toContain('owned by uid 0');
    }
  });

  it('checks the owner before the mode', async () => {
    // A file that is both foreign and readable by others: root's /etc/passwd (0644) for a
    // normal user; as root, a 0644 key file given away to nobody.
    let path = '/etc/passwd';
    let owner = 0;
    if (process.getuid!() === 0) {
      path = keyFile('both.key', randomBytes(32), 0o644);
      chownSync(path, 65534, 65534);
      owner = 65534;
    }
    expect(statSync(path).mode & 0o077).not.toBe(0);
    await refusal(path, new RegExp(`owned by uid ${owner}.*chown`));
  });

  it.each([0, 1, 31, 33, 64])('refuses %i random bytes', async (size) => {
    const content = randomBytes(size);
    const path = keyFile('size.key', content);
    const error = await refusal(path, /neither 32 raw bytes nor .*base64.*cmek keygen/, content);
    expect(error.message).toContain(`${size} bytes`);
  });

  it.each([
    [
      'a character outside the alphabet',
      (k: Buffer) => `${k.toString('base64').slice(0, 20)}*${k.toString('base64').slice(21)}`,
    ],
    ['both alphabets mixed', (k: Buffer) => `${k.toString('base64url').slice(0, 42)}+`],
    [
      'whitespace inside',
      (k: Buffer) => `${k.toString('base64').slice(0, 20)} ${k.toString('base64').slice(20)}`,
    ],
    ['31 bytes encoded', (k: Buffer) => k.subarray(0, 31).toString('base64')],
    ['33 bytes encoded', (k: Buffer) => Buffer.concat([k, k.subarray(0, 1)]).toString('base64')],
    ['hex instead of base64', (k: Buffer) => k.toString('hex')],
    ['two = of padding', (k: Buffer) => `${k.toString('base64url')}==`],
  ])('refuses base64 text with %s', async (_name, encode) => {
    let key = randomBytes(32);
    while (!/[-_]/.test(key.toString('base64url'))) key = randomBytes(32);
    const text = encode(key);
    const path = keyFile('bad.key', text);
    await refusal(path, /neither 32 raw bytes nor .*base64/, key);
    const error = await rejection(createLocalKekProvider({ path }));
    assertNoSecret(error, key, [text.trim()]);
  });

  it('refuses base64 text whose last digit has non-zero unused bits', async () => {
    const key = randomBytes(32);
    const text = key.toString('base64url');
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(text[42]!);
    // 43 digits carry 258 bits: the last digit's two low bits must be zero.
    expect(last & 3).toBe(0);
    const path = keyFile('bits.key', text.slice(0, 42) + alphabet[last | 1]);
    await refusal(path, /neither 32 raw bytes/, key);
  });

  it('refuses a huge file without naming its content', async () => {
    const content = randomBytes(10_000);
    await refusal(keyFile('huge.key', content), /larger than 4096 bytes/, content.subarray(0, 32));
  });

  it('rejects options without a path as a configuration error', async () => {
    const error = await rejection(createLocalKekProvider({ path: '' }));
    expect(error.code).toBe('CMEK_CONFIG');
  });

  it('quotes a path with spaces in the suggested command', async () => {
    const path = keyFile('my key.bin', randomBytes(32), 0o644);
    await refusal(path, new RegExp(`chmod 600 '${dir}/my key\\.bin'`));
  });
});
