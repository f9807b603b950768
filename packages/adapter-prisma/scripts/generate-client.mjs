#!/usr/bin/env node
/**
 * Generates a Prisma client offline: `prisma generate` with the schema engine pointed at a binary
 * that is never run (`PRISMA_SCHEMA_ENGINE_BINARY`), so the CLI downloads nothing. The
 * `prisma-client` generator needs no engine: its output is TypeScript over Prisma's WASM query
 * compiler, shipped in `@prisma/client`. Skipped when the output is already there for this
 * schema (a hash of the schema is kept beside it).
 *
 * usage: node scripts/generate-client.mjs [schema] (default: test/prisma/schema.prisma)
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

export function generateClient(schemaPath, cwd = resolve(here, '..')) {
  const schema = resolve(cwd, schemaPath);
  const text = readFileSync(schema, 'utf8');
  const output = /^\s*output\s*=\s*"([^"]+)"/m.exec(text)?.[1];
  if (output === undefined) throw new Error(`${schema}: the generator has no output`);
  const out = resolve(dirname(schema), output);
  const stamp = resolve(out, '.schema-hash');
  const hash = createHash('sha256').update(text).digest('hex');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === hash) return out;
  const cli = createRequire(resolve(cwd, 'package.json')).resolve('prisma/build/index.js');
  try {
    execFileSync(process.execPath, [cli, 'generate', '--schema', schema], {
      cwd,
      stdio: 'pipe',
      env: {
        ...process.env,
        PRISMA_SCHEMA_ENGINE_BINARY: process.platform === 'win32' ? process.execPath : '/bin/false',
        CHECKPOINT_DISABLE: '1',
        PRISMA_HIDE_UPDATE_MESSAGE: '1',
      },
    });
  } catch (error) {
    const detail = `${error.stdout ?? ''}${error.stderr ?? ''}`;
    throw new Error(`prisma generate failed for ${schema}:\n${detail}`);
  }
  writeFileSync(stamp, hash);
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  generateClient(process.argv[2] ?? 'test/prisma/schema.prisma');
}
