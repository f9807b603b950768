import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ServiceRequirement {
  /** A human name, e.g. `PostgreSQL`. */
  readonly name: string;
  /** The environment variable holding the service's URL, e.g. `CMEK_PG_URL`. */
  readonly env: string;
  /** The command that starts it, printed when its tests are skipped. */
  readonly start: string;
}

function fromStateFile(variable: string): string | undefined {
  const dir = process.env.CMEK_STATE_DIR ?? join(tmpdir(), 'cmek-services');
  let text: string;
  try {
    text = readFileSync(join(dir, 'services.env'), 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0 && line.slice(0, eq) === variable) return line.slice(eq + 1);
  }
  return undefined;
}

/**
 * The URL of a real service the tests need: from the environment, else from the file
 * `scripts/services/up.sh` writes. When it is missing, under `CI=true` this throws (a missing
 * service fails the run); elsewhere it prints one line saying how to start it and returns
 * `undefined`, so the caller can `describe.skipIf(!url)`.
 */
export function serviceUrl(requirement: ServiceRequirement): string | undefined {
  const value = process.env[requirement.env] ?? fromStateFile(requirement.env);
  if (value) return value;
  if (process.env.CI === 'true') {
    throw new Error(
      `${requirement.name} is required under CI=true but ${requirement.env} is not set; start it with: ${requirement.start}`,
    );
  }
  console.warn(
    `skipping ${requirement.name} tests: ${requirement.env} is not set; start it with: ${requirement.start}`,
  );
  return undefined;
}
