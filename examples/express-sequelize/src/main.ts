/**
 * The example's one command (`pnpm --filter @cmek/example-express-sequelize start`): an HTTP API
 * on 127.0.0.1 that keeps integration tokens in SQLite, encrypted under a local key file.
 *
 * Environment: `CMEK_EXAMPLE_DATA_DIR` (the database and the key file; default `.data` in this
 * folder), `PORT` (default 3000; `0` picks a free port). SIGINT / SIGTERM stop it cleanly.
 */
import { once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CmekError, createEnvelope, type Envelope } from '@cmek/core';
import { createLocalKekProvider } from '@cmek/provider-local';
import { Sequelize } from 'sequelize';
import { createApp } from './app';
import { ensureKekFile } from './key-file';

const HOST = '127.0.0.1';

function portFrom(value: string | undefined): number {
  const port = Number(value ?? '3000');
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error('PORT must be an integer from 0 to 65535');
  }
  return port;
}

async function listen(server: Server, port: number): Promise<number> {
  server.listen(port, HOST);
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

function stopOnSignal(server: Server, sequelize: Sequelize, envelope: Envelope): void {
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    const closed = new Promise<void>((done, fail) =>
      server.close((error) => (error ? fail(error) : done())),
    );
    server.closeIdleConnections();
    await closed;
    await sequelize.close();
    await envelope.close();
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      stop().then(
        () => process.exit(0),
        (error: unknown) => {
          console.error(`stopping failed: ${describe(error)}`);
          process.exit(1);
        },
      );
    });
  }
}

/** A start-up error: cmek's messages hold paths and codes, never a key or a value. */
function describe(error: unknown): string {
  if (CmekError.isInstance(error)) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

async function main(): Promise<void> {
  const port = portFrom(process.env.PORT);
  const dataDir = resolve(
    process.env.CMEK_EXAMPLE_DATA_DIR ?? fileURLToPath(new URL('../.data', import.meta.url)),
  );
  await mkdir(dataDir, { recursive: true, mode: 0o700 });

  // One directory for both is an example's convenience. In production keep the key file out of
  // the database's backups (or use Vault / AWS KMS): whoever has both can read every token.
  const keyPath = join(dataDir, 'kek.key');
  const key = await ensureKekFile(keyPath);
  const kek = await createLocalKekProvider({ path: keyPath });
  console.log(`key file ${keyPath} (${key}, keyRef ${kek.keyRef})`);
  const envelope = createEnvelope({ kek });

  const sequelize = new Sequelize({
    dialect: 'sqlite',
    storage: join(dataDir, 'app.sqlite'),
    logging: false,
  });
  const app = await createApp({ sequelize, envelope });
  await sequelize.sync();

  const server = createServer(app);
  const url = `http://${HOST}:${await listen(server, port)}`;
  stopOnSignal(server, sequelize, envelope);
  console.log(`listening on ${url}`);
  console.log(
    `try: curl -s ${url}/integrations -H 'content-type: application/json' -d '{"team":"acme","provider":"slack","accessToken":"xoxb-example"}'; curl -s ${url}/integrations`,
  );
}

try {
  await main();
} catch (error) {
  console.error(`failed to start: ${describe(error)}`);
  process.exit(1);
}
