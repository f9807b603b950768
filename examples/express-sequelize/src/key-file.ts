/** The local KEK file: generated on the first start, reused on every later one. */
import { lstat } from 'node:fs/promises';
import { generateKekFile } from '@cmek/provider-local';

/**
 * Creates the key file unless something is already at `path`. `generateKekFile` never
 * overwrites, and whatever is there is checked when the provider loads it (a regular file,
 * mode 0600, 32 bytes): a new key would make every stored token unreadable.
 */
export async function ensureKekFile(path: string): Promise<'generated' | 'reused'> {
  const exists = await lstat(path).then(
    () => true,
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return false;
      throw error;
    },
  );
  if (exists) return 'reused';
  await generateKekFile(path);
  return 'generated';
}
