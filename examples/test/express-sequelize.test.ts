/**
 * examples/express-sequelize: the HTTP API run as a user runs it, driven over real HTTP, with the
 * SQLite file read directly (around the ORM) to see what the database holds.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildExample, ROOT } from './run-example';
import { type ServedExample, serveExample } from './serve-example';

/** The test's inputs: what a customer connects, then rotates. */
const SLACK = {
  team: 'acme',
  provider: 'slack',
  accessToken: 'xoxb-acme-0001-slack-access-token',
  refreshToken: 'xoxe-acme-0001-slack-refresh-token',
};
const GITHUB = { team: 'globex', provider: 'github', accessToken: 'ghp_globex0002githubaccess' };
const JIRA = {
  team: 'initech',
  provider: 'jira',
  accessToken: 'ATATT3x-initech-0003-jira-token',
  refreshToken: 'initech-0003-jira-refresh-token',
};
const ROTATED = 'xoxb-acme-0004-rotated-access-token';
const REJECTED = 'xoxb-never-stored-0005-token';
const SECRETS = [
  SLACK.accessToken,
  SLACK.refreshToken,
  GITHUB.accessToken,
  JIRA.accessToken,
  JIRA.refreshToken,
  ROTATED,
  REJECTED,
];

// --- the SQLite file, read and written with the driver itself (no Sequelize, no cmek) ---

interface RawRow {
  readonly id: number;
  readonly team: string;
  readonly access_token: unknown;
  readonly refresh_token: unknown;
}
type Callback<T = void> = (error: Error | null, result: T) => void;
interface SqliteDatabase {
  all(sql: string, params: unknown[], callback: Callback<RawRow[]>): void;
  run(sql: string, params: unknown[], callback: Callback): void;
  close(callback: Callback): void;
}
interface Sqlite3 {
  readonly OPEN_READONLY: number;
  readonly OPEN_READWRITE: number;
  readonly Database: new (path: string, mode: number, callback: Callback) => SqliteDatabase;
}
// examples/test has no node_modules: load the driver the example itself uses
const sqlite3 = createRequire(join(ROOT, 'examples/express-sequelize/package.json'))(
  'sqlite3',
) as Sqlite3;

async function withDatabase<T>(
  path: string,
  mode: number,
  use: (db: SqliteDatabase) => Promise<T>,
): Promise<T> {
  const db = await new Promise<SqliteDatabase>((resolve, reject) => {
    const opened = new sqlite3.Database(path, mode, (error) =>
      error ? reject(error) : resolve(opened),
    );
  });
  try {
    return await use(db);
  } finally {
    await new Promise<void>((resolve, reject) =>
      db.close((error) => (error ? reject(error) : resolve())),
    );
  }
}

const rawRows = (path: string): Promise<RawRow[]> =>
  withDatabase(path, sqlite3.OPEN_READONLY, (db) => {
    return new Promise((resolve, reject) =>
      db.all('SELECT * FROM integration_connections ORDER BY id', [], (error, rows) =>
        error ? reject(error) : resolve(rows),
      ),
    );
  });

const rawRun = (path: string, sql: string, params: unknown[]): Promise<void> =>
  withDatabase(path, sqlite3.OPEN_READWRITE, (db) => {
    return new Promise((resolve, reject) =>
      db.run(sql, params, (error) => (error ? reject(error) : resolve())),
    );
  });

/** A stored secret: a cmek:v1: token that holds none of the secrets in clear. */
function expectToken(value: unknown): string {
  expect(typeof value).toBe('string');
  const token = value as string;
  expect(token.startsWith('cmek:v1:')).toBe(true);
  for (const secret of SECRETS) expect(token).not.toContain(secret);
  return token;
}

// --- HTTP ---

interface Answer {
  readonly status: number;
  readonly text: string;
  readonly json: unknown;
}

async function call(
  server: ServedExample,
  method: string,
  path: string,
  body?: { readonly json: unknown } | { readonly raw: string; readonly type: string },
): Promise<Answer> {
  const init: RequestInit = { method };
  if (body !== undefined) {
    const json = 'json' in body;
    init.body = json ? JSON.stringify(body.json) : body.raw;
    init.headers = { 'content-type': json ? 'application/json' : body.type };
  }
  const response = await fetch(`${server.url}${path}`, init);
  const text = await response.text();
  const isJson = response.headers.get('content-type')?.startsWith('application/json') === true;
  return { status: response.status, text, json: isJson ? JSON.parse(text) : undefined };
}

const field = (answer: Answer, name: string): unknown =>
  (answer.json as Record<string, unknown> | undefined)?.[name];

describe('examples/express-sequelize (pnpm --filter @cmek/example-express-sequelize start)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'cmek-express-'));
  const databasePath = join(dataDir, 'app.sqlite');
  const keyPath = join(dataDir, 'kek.key');
  const env = { PORT: '0', CMEK_EXAMPLE_DATA_DIR: dataDir };
  const servers: ServedExample[] = [];
  let server: ServedExample;
  let keyBytes: Buffer;
  const ids: { slack?: number; github?: number } = {};

  beforeAll(async () => {
    buildExample('express-sequelize');
    server = await serveExample('express-sequelize', env);
    servers.push(server);
  }, 120_000);

  afterAll(() => {
    for (const started of servers) started.kill();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('generates a 32-byte key file with mode 0600 in the data directory on the first start', () => {
    const stat = statSync(keyPath);
    expect(stat.isFile()).toBe(true);
    expect(stat.mode & 0o777).toBe(0o600);
    keyBytes = readFileSync(keyPath);
    expect(keyBytes).toHaveLength(32);
  });

  it('creates two integrations (201) and answers without their tokens', async () => {
    const slack = await call(server, 'POST', '/integrations', { json: SLACK });
    const github = await call(server, 'POST', '/integrations', { json: GITHUB });
    for (const [answer, input] of [
      [slack, SLACK],
      [github, GITHUB],
    ] as const) {
      expect(answer.status).toBe(201);
      expect(field(answer, 'team')).toBe(input.team);
      expect(field(answer, 'provider')).toBe(input.provider);
      expect(typeof field(answer, 'id')).toBe('number');
      for (const secret of SECRETS) expect(answer.text).not.toContain(secret);
    }
    ids.slack = field(slack, 'id') as number;
    ids.github = field(github, 'id') as number;
    expect(ids.slack).not.toBe(ids.github);
  });

  it('lists them without any token: a 4-character hint and whether a refresh token is set', async () => {
    const list = await call(server, 'GET', '/integrations');
    expect(list.status).toBe(200);
    for (const secret of SECRETS) expect(list.text).not.toContain(secret);
    const items = field(list, 'integrations') as Record<string, unknown>[];
    expect(items.map((i) => [i.id, i.team, i.provider, i.hasRefreshToken])).toEqual([
      [ids.slack, SLACK.team, SLACK.provider, true],
      [ids.github, GITHUB.team, GITHUB.provider, false],
    ]);
    expect(items.map((i) => i.accessTokenHint)).toEqual([
      `…${SLACK.accessToken.slice(-4)}`,
      `…${GITHUB.accessToken.slice(-4)}`,
    ]);
  });

  it('stores a cmek:v1: token in every secret column, no plaintext, NULL for no refresh token', async () => {
    const rows = await rawRows(databasePath);
    expect(rows.map((r) => [r.id, r.team])).toEqual([
      [ids.slack, SLACK.team],
      [ids.github, GITHUB.team],
    ]);
    const [slack, github] = rows;
    expectToken(slack!.access_token);
    expectToken(slack!.refresh_token);
    expectToken(github!.access_token);
    expect(github!.refresh_token).toBeNull();
    const everything = JSON.stringify(rows);
    for (const secret of SECRETS) expect(everything).not.toContain(secret);
  });

  it('returns the plaintext tokens of one integration (the route the app workers call)', async () => {
    const slack = await call(server, 'GET', `/integrations/${ids.slack}`);
    expect(slack.status).toBe(200);
    expect(field(slack, 'accessToken')).toBe(SLACK.accessToken);
    expect(field(slack, 'refreshToken')).toBe(SLACK.refreshToken);
    const github = await call(server, 'GET', `/integrations/${ids.github}`);
    expect(field(github, 'accessToken')).toBe(GITHUB.accessToken);
    expect(field(github, 'refreshToken')).toBeNull();
  });

  it('rotates the access token: the new one reads back, the row holds a new token', async () => {
    const [before] = await rawRows(databasePath);
    const update = await call(server, 'PATCH', `/integrations/${ids.slack}`, {
      json: { accessToken: ROTATED },
    });
    expect(update.status).toBe(200);
    for (const secret of SECRETS) expect(update.text).not.toContain(secret);
    const read = await call(server, 'GET', `/integrations/${ids.slack}`);
    expect(field(read, 'accessToken')).toBe(ROTATED);
    expect(field(read, 'refreshToken')).toBe(SLACK.refreshToken);
    const [after] = await rawRows(databasePath);
    expect(after!.id).toBe(ids.slack);
    expect(expectToken(after!.access_token)).not.toBe(expectToken(before!.access_token));
    // the refresh token was not part of the update: its stored token is untouched
    expect(after!.refresh_token).toBe(before!.refresh_token);
  });

  it('answers 400 with a message naming the problem, never echoing the body, writing nothing', async () => {
    const cases: [Parameters<typeof call>[3], RegExp][] = [
      [{ json: { team: 'acme', provider: 'slack' } }, /accessToken/],
      [{ json: { team: 'acme', provider: 'gitlab', accessToken: REJECTED } }, /provider/],
      [{ json: { team: '', provider: 'jira', accessToken: REJECTED } }, /team/],
      [{ json: { ...SLACK, accessToken: `cmek:v1:${REJECTED}` } }, /accessToken/],
      [{ json: { ...SLACK, accessToken: REJECTED, scope: 'admin' } }, /scope/],
      [{ json: [REJECTED] }, /JSON object/],
      [{ raw: `{"accessToken":"${REJECTED}"`, type: 'application/json' }, /JSON/],
      [{ raw: `accessToken=${REJECTED}`, type: 'application/x-www-form-urlencoded' }, /JSON/],
    ];
    for (const [body, message] of cases) {
      const answer = await call(server, 'POST', '/integrations', body);
      expect(answer.status, answer.text).toBe(400);
      expect(field(answer, 'error')).toMatch(message);
      expect(answer.text).not.toContain(REJECTED);
    }
    const patch = await call(server, 'PATCH', `/integrations/${ids.github}`, {
      json: { refreshToken: REJECTED },
    });
    expect(patch.status).toBe(400);
    expect(field(patch, 'error')).toMatch(/accessToken/);
    const rows = await rawRows(databasePath);
    expect(rows.map((r) => r.id)).toEqual([ids.slack, ids.github]);
    expect(rows[1]!.refresh_token).toBeNull();
  });

  it('answers 404 for an id that does not exist', async () => {
    const missing = [
      await call(server, 'GET', '/integrations/999999'),
      await call(server, 'GET', '/integrations/not-an-id'),
      await call(server, 'PATCH', '/integrations/999999', { json: { accessToken: REJECTED } }),
      await call(server, 'DELETE', '/integrations/999999'),
    ];
    for (const answer of missing) {
      expect(answer.status).toBe(404);
      expect(typeof field(answer, 'error')).toBe('string');
    }
  });

  it('answers 500 with only the cmek error code when a stored token cannot be decrypted', async () => {
    const created = await call(server, 'POST', '/integrations', { json: JIRA });
    expect(created.status).toBe(201);
    const id = field(created, 'id') as number;
    // a token copied from another column is bound to that column: it cannot be decrypted here
    await rawRun(
      databasePath,
      'UPDATE integration_connections SET refresh_token = access_token WHERE id = ?',
      [id],
    );
    const read = await call(server, 'GET', `/integrations/${id}`);
    expect(read.status).toBe(500);
    expect(read.json).toEqual({ error: 'CMEK_DECRYPTION' });
    // deleting needs no decryption
    expect((await call(server, 'DELETE', `/integrations/${id}`)).status).toBe(204);
    expect((await rawRows(databasePath)).map((r) => r.id)).toEqual([ids.slack, ids.github]);
  });

  it('deletes an integration (204): gone from the API and from the table', async () => {
    const deleted = await call(server, 'DELETE', `/integrations/${ids.github}`);
    expect(deleted.status).toBe(204);
    expect((await call(server, 'GET', `/integrations/${ids.github}`)).status).toBe(404);
    const list = await call(server, 'GET', '/integrations');
    expect((field(list, 'integrations') as { id: number }[]).map((i) => i.id)).toEqual([ids.slack]);
    expect((await rawRows(databasePath)).map((r) => r.id)).toEqual([ids.slack]);
  });

  it('restarts on the same data directory: the key file is reused and the tokens read back', async () => {
    expect(await server.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    server = await serveExample('express-sequelize', env);
    servers.push(server);
    expect(readFileSync(keyPath).equals(keyBytes)).toBe(true);
    const read = await call(server, 'GET', `/integrations/${ids.slack}`);
    expect(read.status).toBe(200);
    expect(field(read, 'accessToken')).toBe(ROTATED);
    expect(field(read, 'refreshToken')).toBe(SLACK.refreshToken);
  });

  it('stops on SIGTERM with exit code 0, having printed no secret and no token', async () => {
    expect(await server.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    for (const started of servers) {
      const printed = started.stdout() + started.stderr();
      expect(started.stdout()).toContain(`listening on ${started.url}`);
      for (const secret of SECRETS) expect(printed).not.toContain(secret);
      expect(printed).not.toContain('cmek:v1:');
    }
  });
});
