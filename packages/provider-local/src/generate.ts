/** `generateKekFile`: a new random KEK, written atomically with mode 0600, never over a file. */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { type FileHandle, link, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { CmekConfigError, CmekKeyFileError } from '@cmek/core';
import { localKeyRef } from './key-ref';
import { shellQuote } from './shell-quote';
import { KEK_LENGTH } from './wrap';

export interface GenerateKekFileOptions {
  /**
   * Replace an existing file. Default `false`. Replacing a KEK makes every value written under
   * the old one unreadable unless the old key is kept elsewhere.
   */
  overwrite?: boolean;
}

export interface GeneratedKekFile {
  readonly path: string;
  /** The key reference of the new KEK (what `cmek:v1:` tokens written under it carry). */
  readonly keyRef: string;
}

function writeError(path: string, error: unknown): CmekKeyFileError {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code === 'EEXIST') {
    return new CmekKeyFileError(
      path,
      `a file already exists at ${path}; cmek never overwrites a key file (the values written under it would be lost): choose another path, or move the old file away first`,
      { cause: error },
    );
  }
  return new CmekKeyFileError(
    path,
    `cannot write the KEK file ${path} (${code ?? 'unknown error'}): check that ${shellQuote(dirname(path))} exists and is writable`,
    { cause: error },
  );
}

async function fsyncDirectory(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, constants.O_RDONLY);
    await handle.sync();
  } catch {
    // Not every platform can fsync a directory; the file itself is already synced.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/**
 * Writes 32 random bytes to `path` with mode 0600: to a temporary file in the same directory
 * (created exclusively, synced), then hard-linked to `path`, which fails if `path` exists, so an
 * existing key is never replaced (unless `overwrite: true`, which renames over it).
 */
export async function generateKekFile(
  path: string,
  options: GenerateKekFileOptions = {},
): Promise<GeneratedKekFile> {
  if (typeof path !== 'string' || path.length === 0) {
    throw new CmekConfigError('generateKekFile: path must be a non-empty string');
  }
  if (typeof options !== 'object' || options === null) {
    throw new CmekConfigError('generateKekFile: options must be an object');
  }
  const overwrite = options.overwrite === true;
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const key = randomBytes(KEK_LENGTH);
  let created = false;
  try {
    const handle = await open(temp, 'wx', 0o600).catch((error: unknown) => {
      throw writeError(path, error);
    });
    created = true;
    try {
      // The umask can only narrow 0600; set it exactly in case it removed the owner's bits.
      await handle.chmod(0o600);
      await handle.writeFile(key);
      await handle.sync();
    } catch (error) {
      throw writeError(path, error);
    } finally {
      await handle.close();
    }
    try {
      if (overwrite) {
        await rename(temp, path);
        created = false;
      } else {
        await link(temp, path);
      }
    } catch (error) {
      throw writeError(path, error);
    }
    await fsyncDirectory(dir);
    return { path, keyRef: localKeyRef(key) };
  } finally {
    key.fill(0);
    if (created) await unlink(temp).catch(() => undefined);
  }
}
