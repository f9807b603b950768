/** `cmek keygen <path>`: a new local KEK file (32 random bytes, mode 0600, never over a file). */

import { resolve } from 'node:path';
import { generateKekFile } from '@cmek/provider-local';
import { EXIT, type ExitCode } from '../exit-codes';
import { type CliIo, line } from '../io';

export async function runKeygen(
  path: string,
  options: { json?: boolean },
  io: CliIo,
): Promise<ExitCode> {
  const generated = await generateKekFile(resolve(io.cwd, path));
  if (options.json === true) line(io.stdout, JSON.stringify(generated));
  else {
    line(io.stdout, `wrote ${generated.path} (mode 0600), keyRef ${generated.keyRef}`);
    line(
      io.stderr,
      'cmek: back this file up somewhere safe: values written under it are lost without it',
    );
  }
  return EXIT.ok;
}
