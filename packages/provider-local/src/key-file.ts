/**
 * Loading the KEK file of SPEC §5: exactly 32 raw bytes, or those bytes as base64 / base64url text
 * with optional surrounding whitespace. The file must be a regular file (not a symbolic link),
 * owned by the process's user, with no access for group or others.
 *
 * No message built here contains the file's content.
 */
import type { Stats } from 'node:fs';
import { constants } from 'node:fs';
import { type FileHandle, lstat, open } from 'node:fs/promises';
import { CmekKeyFileError } from '@cmek/core';
import { shellQuote } from './shell-quote';
import { KEK_LENGTH } from './wrap';

/** A key file is 32 to 44-odd bytes; anything beyond this is certainly not a key. */
const MAX_FILE_BYTES = 4096;
const EDGE_WHITESPACE = /^[\t\n\v\f\r ]+|[\t\n\v\f\r ]+$/g;
const BASE64 = /^[A-Za-z0-9+/]{43}=?$/;
const BASE64URL = /^[A-Za-z0-9_-]{43}=?$/;

/** POSIX permission and owner checks; Windows has neither mode bits nor `process.getuid`. */
function processUid(): number | undefined {
  return typeof process.getuid === 'function' ? process.getuid() : undefined;
}

function keygenHint(path: string): string {
  return `cmek keygen ${shellQuote(path)}`;
}

function fsError(path: string, error: unknown): CmekKeyFileError {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  const q = shellQuote(path);
  switch (code) {
    case 'ENOENT':
      return new CmekKeyFileError(
        path,
        `no KEK file at ${path}: create one with \`${keygenHint(path)}\` or fix the path`,
        { cause: error },
      );
    case 'EACCES':
    case 'EPERM':
      return new CmekKeyFileError(
        path,
        `cannot read the KEK file ${path} (permission denied): run the process as the file's owner, or \`chown\` it to the process's user and \`chmod 600 ${q}\``,
        { cause: error },
      );
    case 'ELOOP':
      return symlinkError(path);
    case 'ENOTDIR':
      return new CmekKeyFileError(
        path,
        `no KEK file at ${path}: a parent of it is not a directory; fix the path`,
        { cause: error },
      );
    default:
      return new CmekKeyFileError(
        path,
        `cannot read the KEK file ${path} (${code ?? 'unknown error'}); check the path and its permissions`,
        { cause: error },
      );
  }
}

function symlinkError(path: string): CmekKeyFileError {
  return new CmekKeyFileError(
    path,
    `the KEK file ${path} is a symbolic link, which cmek refuses (whoever can change the link chooses the key): point the path at the key file itself`,
  );
}

function checkStats(path: string, stats: Stats): void {
  if (stats.isSymbolicLink()) throw symlinkError(path);
  if (!stats.isFile()) {
    const what = stats.isDirectory() ? 'a directory' : 'not a regular file';
    throw new CmekKeyFileError(
      path,
      `the KEK file ${path} is ${what}: point the path at a 32-byte key file, or create one with \`cmek keygen <file>\``,
    );
  }
  const uid = processUid();
  if (uid === undefined) return;
  const q = shellQuote(path);
  // The owner first: after a chown, the mode is the next thing to fix.
  if (stats.uid !== uid) {
    throw new CmekKeyFileError(
      path,
      `the KEK file ${path} is owned by uid ${stats.uid}, not by this process's user (uid ${uid}): run \`chown ${uid} ${q}\` or run the process as the file's owner`,
    );
  }
  if ((stats.mode & 0o077) !== 0) {
    const mode = (stats.mode & 0o777).toString(8).padStart(3, '0');
    throw new CmekKeyFileError(
      path,
      `the KEK file ${path} is accessible to group or others (mode ${mode}): restrict it with \`chmod 600 ${q}\``,
    );
  }
}

async function readAll(path: string, handle: FileHandle): Promise<Buffer> {
  const buffer = Buffer.alloc(MAX_FILE_BYTES + 1);
  let length = 0;
  for (;;) {
    const { bytesRead } = await handle
      .read(buffer, length, buffer.length - length, null)
      .catch((error: unknown) => {
        buffer.fill(0);
        throw fsError(path, error);
      });
    if (bytesRead === 0) break;
    length += bytesRead;
    if (length > MAX_FILE_BYTES) {
      buffer.fill(0);
      throw new CmekKeyFileError(
        path,
        `the KEK file ${path} is larger than ${MAX_FILE_BYTES} bytes, so it is not a key file: point the path at a 32-byte key file, or create one with \`cmek keygen <file>\``,
      );
    }
  }
  const content = Buffer.alloc(length);
  buffer.copy(content, 0, 0, length);
  buffer.fill(0);
  return content;
}

/**
 * The 32 key bytes of a file's content: exactly 32 bytes are the raw key; anything else must be
 * base64 or base64url text of 32 bytes (padding optional, whitespace around it allowed, one
 * alphabet, canonical trailing bits). Returns `undefined` otherwise.
 */
export function decodeKekContent(content: Uint8Array): Buffer | undefined {
  if (content.byteLength === KEK_LENGTH) return Buffer.from(content);
  const text = Buffer.from(content.buffer, content.byteOffset, content.byteLength)
    .toString('latin1')
    .replace(EDGE_WHITESPACE, '');
  const url = BASE64URL.test(text);
  if (!url && !BASE64.test(text)) return undefined;
  const digits = text.slice(0, 43);
  const key = Buffer.from(digits, url ? 'base64url' : 'base64');
  const canonical =
    key.length === KEK_LENGTH && key.toString(url ? 'base64url' : 'base64').startsWith(digits);
  if (canonical) return key;
  key.fill(0);
  return undefined;
}

/** Reads and checks the KEK file; every refusal is a `CmekKeyFileError` naming the path and the fix. */
export async function readKekFile(path: string): Promise<Buffer> {
  let linkStats: Stats;
  try {
    linkStats = await lstat(path);
  } catch (error) {
    throw fsError(path, error);
  }
  checkStats(path, linkStats);
  let handle: FileHandle;
  try {
    // O_NOFOLLOW: a link swapped in after the lstat is refused rather than followed.
    handle = await open(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
  } catch (error) {
    throw fsError(path, error);
  }
  try {
    const stats = await handle.stat();
    if (stats.dev !== linkStats.dev || stats.ino !== linkStats.ino) {
      throw new CmekKeyFileError(
        path,
        `the KEK file ${path} was replaced while it was being opened; try again`,
      );
    }
    checkStats(path, stats);
    const content = await readAll(path, handle);
    const key = decodeKekContent(content);
    const size = content.length;
    content.fill(0);
    if (key === undefined) {
      throw new CmekKeyFileError(
        path,
        `the KEK file ${path} holds ${size} bytes that are neither 32 raw bytes nor 32 bytes in base64 or base64url text: point the path at the right file, or create a new key with \`cmek keygen <file>\` (values written under the old key need the old key)`,
      );
    }
    return key;
  } finally {
    await handle.close();
  }
}
