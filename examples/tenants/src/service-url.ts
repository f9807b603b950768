/** The URL of a local service: the environment, else the file `scripts/services/up.sh` writes. */
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function serviceVariable(name: string): string | undefined {
  if (process.env[name]) return process.env[name];
  const dir = process.env.CMEK_STATE_DIR ?? join(tmpdir(), 'cmek-services');
  try {
    for (const line of readFileSync(join(dir, 'services.env'), 'utf8').split('\n')) {
      if (line.startsWith(`${name}=`)) return line.slice(name.length + 1);
    }
  } catch {
    // no state file: the service was not started by up.sh
  }
  return undefined;
}
