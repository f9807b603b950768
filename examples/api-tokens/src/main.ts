/**
 * API tokens found by an encrypted column (issue #15): the app issues a random token, stores only
 * sha256(token), encrypted, and finds the row again when a request presents the token:
 * "hash the presented token, find the row by the encrypted tokenHash". The encrypted column
 * cannot be searched (each write is a new ciphertext), so it has a blind index beside it: a keyed
 * hash under an index key that is created once and kept, wrapped by the KEK, in a file beside it.
 *
 *   pnpm --filter @cmek/example-api-tokens start
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withCmek } from '@cmek/adapter-knex';
import {
  CmekError,
  createBlindIndexKey,
  createEnvelope,
  loadBlindIndexes,
  TOKEN_PREFIX,
} from '@cmek/core';
import { createLocalKekProvider, generateKekFile } from '@cmek/provider-local';
import knex from 'knex';

const sha256 = (value: string): string => createHash('sha256').update(value).digest('hex');

const dir = mkdtempSync(join(tmpdir(), 'cmek-api-tokens-'));
const plain = knex({
  client: 'better-sqlite3',
  connection: { filename: join(dir, 'app.sqlite') },
  useNullAsDefault: true,
});

async function main(): Promise<void> {
  const kekFile = await generateKekFile(join(dir, 'kek.key'));
  const kek = await createLocalKekProvider({ path: kekFile.path });
  // the index key: made once (one KEK call), then read from its file like any config value
  const indexKeyFile = join(dir, 'index.key');
  if (!existsSync(indexKeyFile)) writeFileSync(indexKeyFile, await createBlindIndexKey(kek));
  const indexer = await loadBlindIndexes({
    keys: [readFileSync(indexKeyFile, 'utf8').trim()],
    kek,
  });
  console.log(
    `1. A local KEK (keyRef ${kekFile.keyRef}) and an index key (key id ${indexer.currentKeyId}) wrapped by it, in ${dir}.`,
  );

  await plain.schema.createTable('api_tokens', (t) => {
    t.increments('id').primary();
    t.string('name', 64).notNullable();
    t.text('token_hash').notNullable();
    t.string('token_hash_bidx', 80).unique();
  });
  let kekCalls = 0;
  const envelope = createEnvelope({
    kek,
    onEvent: (event) => {
      if (event.type === 'kek-call') kekCalls++;
    },
  });
  const db = withCmek(plain, {
    envelope,
    indexer,
    tables: {
      api_tokens: { columns: { token_hash: { blindIndex: { column: 'token_hash_bidx' } } } },
    },
  });
  await db.checkColumns();

  console.log('\n2. The app issues two tokens and stores sha256(token), encrypted, and its index:');
  const issued: Record<string, string> = {};
  for (const name of ['ci-deploy', 'billing-export']) {
    const token = `cmek_tok_${randomBytes(24).toString('base64url')}`;
    issued[name] = token;
    await db('api_tokens').insert({ name, token_hash: sha256(token) });
    console.log(`   ${name}: token ${token} (shown once), sha256 ${sha256(token)}`);
  }

  console.log('\n3. What the database holds (read around the adapter):');
  const rows = await plain('api_tokens').select('name', 'token_hash', 'token_hash_bidx');
  for (const row of rows) {
    console.log(`   ${row.name}`);
    console.log(`     token_hash       stored: ${row.token_hash}`);
    console.log(`     token_hash_bidx  stored: ${row.token_hash_bidx}`);
  }
  const plaintexts = Object.values(issued).flatMap((t) => [t, sha256(t)]);
  const leaked = rows.some((row) =>
    plaintexts.some((p) => row.token_hash.includes(p) || row.token_hash_bidx.includes(p)),
  );
  console.log(
    `   ${leaked ? 'PLAINTEXT FOUND' : 'no token and no sha256 in either column'}; token_hash starts with ${TOKEN_PREFIX}`,
  );

  console.log('\n4. A request presents its token: hash it, find the row by the encrypted column.');
  kekCalls = 0;
  const presented = issued['billing-export']!;
  const found = await db('api_tokens').where('token_hash', sha256(presented)).first('id', 'name');
  console.log(`   where('token_hash', sha256(presented)) found: ${found?.name ?? 'nothing'}`);
  const wrong = await db('api_tokens')
    .where('token_hash', sha256(`${presented}x`))
    .first('id', 'name');
  console.log(`   a wrong token found: ${wrong?.name ?? 'nothing'}`);
  console.log(`   KEK calls for both lookups: ${kekCalls}`);

  console.log('\n5. The same token stored twice is refused by the unique index:');
  try {
    await db('api_tokens').insert({ name: 'copy', token_hash: sha256(presented) });
    console.log('   stored (unexpected)');
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const message = error instanceof Error ? error.message : String(error);
    console.log(
      `   refused: ${String(code)}; the error names ${message.includes(sha256(presented)) ? 'the hash' : 'no hash'}`,
    );
  }

  console.log('\n6. Other filters on the encrypted column stay refused:');
  try {
    await db('api_tokens').where('token_hash', 'like', 'ab%');
  } catch (error) {
    console.log(`   ${CmekError.isInstance(error) ? error.code : 'unexpected'}: refused`);
  }
  indexer.close();
  await envelope.close();
}

try {
  await main();
} catch (error) {
  const code = CmekError.isInstance(error) ? `${error.code}: ` : '';
  console.error(
    `The example failed: ${code}${error instanceof Error ? error.message : String(error)}`,
  );
  process.exitCode = 1;
} finally {
  await plain.destroy();
  rmSync(dir, { recursive: true, force: true });
}
