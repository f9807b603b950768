/**
 * `prisma generate`, offline: the CLI's schema engine is pointed at a binary that is never run
 * (`PRISMA_SCHEMA_ENGINE_BINARY`), so nothing is downloaded. The `prisma-client` generator needs no
 * engine. Skipped when ../generated already holds the client of this schema.
 *
 *   tsx src/generate-client.ts
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(import.meta.dirname, '..');

export function generateClient(): void {
  const schema = join(root, 'prisma', 'schema.prisma');
  const hash = createHash('sha256').update(readFileSync(schema)).digest('hex');
  const stamp = join(root, 'generated', '.schema-hash');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === hash) return;
  const cli = createRequire(join(root, 'package.json')).resolve('prisma/build/index.js');
  execFileSync(process.execPath, [cli, 'generate', '--schema', schema], {
    cwd: root,
    stdio: 'pipe',
    env: {
      ...process.env,
      PRISMA_SCHEMA_ENGINE_BINARY: '/bin/false',
      CHECKPOINT_DISABLE: '1',
      PRISMA_HIDE_UPDATE_MESSAGE: '1',
    },
  });
  writeFileSync(stamp, hash);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) generateClient();
