/** Each example runs with one command and prints what it promises. */
import { existsSync } from 'node:fs';
import { serviceUrl } from '@cmek/test-suite';
import { beforeAll, describe, expect, it } from 'vitest';
import { type ExampleRun, runExample, stepOf } from './run-example';

/** The secrets the quickstart writes through the ORM (its inputs, not its output). */
const WRITTEN = [
  'xoxb-1111-acme-slack-bot-token',
  'ATATT3x-acme-jira-api-token',
  'whsec_acme_signing_secret_42',
  'JBSWY3DPEHPK3PXP',
  'smtp-hunter2-acme',
];
/** Its models (one row store each) and their encrypted attributes, in the CLI's order. */
const MODELS = ['IntegrationConnection', 'Webhook', 'UserProfile', 'Workspace'];
const FIELDS = ['slackToken', 'jiraToken', 'signingSecret', 'totpSecret', 'smtpPassword'];
/** The legacy row it inserts in plaintext with raw SQL. */
const LEGACY = ['xoxb-2222-globex-legacy-token', 'ATATT3x-globex-legacy-jira'];

const storedValue = (line: string): string => line.split('stored: ')[1] ?? '';
const readValue = (line: string): string => line.split('reads:  ')[1] ?? '';

describe('examples/quickstart (bash scripts/demo.sh)', () => {
  let run: ExampleRun;
  beforeAll(() => {
    run = runExample('quickstart');
  }, 120_000);

  it('exits 0 with nothing on stderr', () => {
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  it('stores a cmek:v1: token for each value written through the ORM and reads the plaintext', () => {
    const step = stepOf(run.stdout, 3);
    const stored = step.filter((l) => l.includes('stored: ')).map(storedValue);
    const read = step.filter((l) => l.includes('reads:  ')).map(readValue);
    expect(stored).toHaveLength(WRITTEN.length);
    for (const value of stored) expect(value).toMatch(/^cmek:v1:[A-Za-z0-9_-]+… \(\d+ chars\)$/);
    expect(read).toEqual(WRITTEN.map((w) => JSON.stringify(w)));
    // no plaintext in what the database holds
    for (const secret of WRITTEN) for (const value of stored) expect(value).not.toContain(secret);
    expect(step.join('\n')).toContain('refused: CMEK_QUERY');
  });

  it('shows the legacy row in plaintext, then encrypted by the backfill', () => {
    const legacy = stepOf(run.stdout, 4);
    expect(legacy.filter((l) => l.includes('stored: ')).map(storedValue)).toEqual(
      LEGACY.map((v) => JSON.stringify(v)),
    );
    // the real `cmek backfill`: the legacy row's two fields, nothing else (the rest was written
    // through the ORM, so already encrypted)
    const backfill = stepOf(run.stdout, 5);
    expect(backfill).toContain('   $ cmek backfill --config cmek.config.ts');
    expect(
      backfill.flatMap((l) => {
        const m = /^\s+(\w+): (\d+) encrypted, (\d+) already encrypted/.exec(l);
        return m ? [`${m[1]} ${m[2]} ${m[3]}`] : [];
      }),
    ).toEqual(
      FIELDS.map((f) => (f === 'slackToken' || f === 'jiraToken' ? `${f} 1 1` : `${f} 0 1`)),
    );
    const after = backfill.slice(backfill.findIndex((l) => l.includes('after the backfill')));
    const stored = after.filter((l) => l.includes('stored: ')).map(storedValue);
    expect(stored).toHaveLength(2);
    for (const value of stored) expect(value.startsWith('cmek:v1:')).toBe(true);
    expect(after.filter((l) => l.includes('reads:  ')).map(readValue)).toEqual(
      LEGACY.map((v) => JSON.stringify(v)),
    );
  });

  it('rotates to the new key and verifies everything under it, nothing plaintext', () => {
    const keys = /new key ([0-9a-f]+); old key ([0-9a-f]+) now decrypt-only/.exec(run.stdout);
    expect(keys).not.toBeNull();
    const [, newRef, oldRef] = keys!;
    expect(newRef).not.toBe(oldRef);
    expect(run.stdout).toContain(`was under local/${oldRef}, now under local/${newRef}`);
    expect(run.stdout).toContain('its encrypted data is unchanged');

    // after the restart, every stored value is a token and every read is the plaintext
    const restarted = stepOf(run.stdout, 7);
    const stored = restarted.filter((l) => l.includes('stored: ')).map(storedValue);
    expect(stored).toHaveLength(WRITTEN.length + LEGACY.length);
    for (const value of stored) expect(value.startsWith('cmek:v1:')).toBe(true);
    const read = restarted.filter((l) => l.includes('reads:  ')).map(readValue);
    expect([...read].sort()).toEqual([...WRITTEN, ...LEGACY].map((v) => JSON.stringify(v)).sort());

    // the real `cmek rotate` moved the values of every store to the new key
    const rotate = stepOf(run.stdout, 6);
    expect(rotate.some((l) => l.includes('$ cmek rotate --config cmek.config.ts'))).toBe(true);
    const rewrapped = rotate.flatMap((l) => /^\s+\w+: (\d+) rewrapped/.exec(l)?.[1] ?? []);
    expect(rewrapped.reduce((sum, n) => sum + Number(n), 0)).toBe(WRITTEN.length + LEGACY.length);
    // two distinct DEKs: the application's (its write-side cache serves every model) and the one
    // of the CLI's backfill; each is moved once for the whole run, whatever store meets it first
    const moved = rotate.flatMap(
      (l) => new RegExp(`^\\s+DEKs moved to local/${newRef}: (\\d+) `).exec(l)?.[1] ?? [],
    );
    expect(moved).toHaveLength(MODELS.length); // one line per store
    expect(moved.reduce((sum, n) => sum + Number(n), 0)).toBe(2);

    // the real `cmek verify` with only the new key: every value under it, none plaintext
    const verified = stepOf(run.stdout, 8);
    expect(verified).toContain('   $ cmek verify --config cmek.config.ts');
    const underNew = verified.flatMap(
      (l) => new RegExp(`^\\s+encrypted local ${newRef}: (\\d+)$`).exec(l)?.[1] ?? [],
    );
    expect(underNew.reduce((sum, n) => sum + Number(n), 0)).toBe(WRITTEN.length + LEGACY.length);
    const perField = verified.flatMap(
      (l) => /^\s+\w+: (\d+) plaintext, \d+ null, (\d+) undecryptable$/.exec(l)?.slice(1) ?? [],
    );
    expect(perField).toHaveLength(2 * FIELDS.length);
    expect(perField.every((n) => n === '0')).toBe(true);
    expect(verified.join('\n')).not.toContain(oldRef);
    expect(verified.join('\n')).toContain('it can be retired');
  });

  it('removes its temporary database and key files', () => {
    const dir = /were in (\S+) \(now removed\)/.exec(run.stdout)?.[1];
    expect(dir).toBeDefined();
    expect(existsSync(dir!)).toBe(false);
  });
});

describe('examples/drizzle-sqlite', () => {
  let run: ExampleRun;
  beforeAll(() => {
    run = runExample('drizzle-sqlite');
  }, 120_000);

  it('exits 0 with nothing on stderr', () => {
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  it('stores tokens, reads plaintext, refuses a filter, backfills the legacy row and verifies 0 plaintext', () => {
    const lines = run.stdout.split('\n');
    const stored = lines.filter((l) => l.includes('stored: ')).map(storedValue);
    expect(stored).toHaveLength(3);
    for (const value of stored) expect(value.startsWith('cmek:v1:')).toBe(true);
    const read = lines.filter((l) => l.includes('reads:  ')).map(readValue);
    expect(read).toEqual(['"xoxb-acme-2"', '"xoxe-acme-2"', '"xoxb-globex-legacy"']);
    expect(run.stdout).toContain('CMEK_QUERY: refused');
    expect(run.stdout).toContain('backfill: 1 plaintext value(s) encrypted over 2 rows');
    expect(run.stdout).toContain('verify: 3 encrypted, 0 plaintext, 0 undecryptable');
  });
});

const pgUrl = serviceUrl({
  name: 'PostgreSQL',
  env: 'CMEK_PG_URL',
  start: 'scripts/services/up.sh postgres',
});

describe.skipIf(!pgUrl)('examples/knex-postgres', () => {
  let run: ExampleRun;
  beforeAll(() => {
    run = runExample('knex-postgres', { CMEK_PG_URL: pgUrl });
  }, 120_000);

  it('exits 0 with nothing on stderr', () => {
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  it('stores tokens, reads plaintext, backfills the legacy row and verifies 0 plaintext', () => {
    const stored = run.stdout
      .split('\n')
      .filter((l) => l.includes('stored: '))
      .map(storedValue);
    expect(stored).toHaveLength(3);
    for (const value of stored) expect(value.startsWith('cmek:v1:')).toBe(true);
    const read = run.stdout
      .split('\n')
      .filter((l) => l.includes('reads:  '))
      .map(readValue);
    expect(read).toEqual(['"xoxb-acme-2"', '"xoxe-acme"', '"xoxb-globex-legacy"']);
    expect(run.stdout).toContain('backfill: 1 plaintext value(s) encrypted over 2 rows');
    expect(run.stdout).toContain('verify: 3 encrypted, 0 plaintext, 0 undecryptable');
  });
});

describe.skipIf(!pgUrl)('examples/prisma-postgres', () => {
  let run: ExampleRun;
  beforeAll(() => {
    run = runExample('prisma-postgres', { CMEK_PG_URL: pgUrl });
  }, 120_000);

  it('exits 0 with nothing on stderr', () => {
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  it('stores tokens, reads plaintext, refuses a where, backfills the legacy row and verifies 0 plaintext', () => {
    const lines = run.stdout.split('\n');
    const stored = lines.filter((l) => l.includes('stored: ')).map(storedValue);
    expect(stored).toHaveLength(3);
    for (const value of stored) expect(value.startsWith('cmek:v1:')).toBe(true);
    const read = lines.filter((l) => l.includes('reads:  ')).map(readValue);
    expect(read).toEqual(['"xoxb-acme-2"', '"xoxe-acme"', '"xoxb-globex-legacy"']);
    expect(run.stdout).toContain('a where on accessToken: refused: CMEK_QUERY');
    expect(run.stdout).toContain('backfill: 1 plaintext value(s) encrypted over 2 rows');
    expect(run.stdout).toContain('verify: 3 encrypted, 0 plaintext, 0 undecryptable');
  });
});

const kmsEndpoint = serviceUrl({
  name: 'moto server (KMS)',
  env: 'CMEK_KMS_ENDPOINT',
  start: 'scripts/services/up.sh moto',
});

describe.skipIf(!kmsEndpoint)('examples/aws-kms', () => {
  let run: ExampleRun;
  beforeAll(() => {
    run = runExample('aws-kms', {
      CMEK_KMS_ENDPOINT: kmsEndpoint,
      // the AWS SDK's notice that its 2027 releases need Node 22 is not the example's output
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    });
  }, 120_000);

  it('exits 0 with nothing on stderr', () => {
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  it('writes under key A with one GenerateDataKey, moves the DEK to key B by ReEncrypt', () => {
    const keys = /A (arn:aws:kms:\S+)\n\s+B (arn:aws:kms:\S+)/.exec(run.stdout);
    expect(keys).not.toBeNull();
    const [, keyA, keyB] = keys!;
    const stored = run.stdout.split('\n').filter((l) => l.includes(' stored: '));
    expect(stored).toHaveLength(3);
    for (const line of stored) {
      expect(line).toContain('stored: cmek:v1:');
      expect(line.endsWith(`keyRef ${keyA}`)).toBe(true);
    }
    expect(run.stdout).toContain('written under key A; KMS calls: generateDataKey ×1\n');
    expect(run.stdout).toContain(
      'the application reads: xoxb-acme-token, xoxb-globex-token, xoxb-initech-token',
    );
    expect(run.stdout).toContain('3 values rewritten, 1 DEK(s) moved (1 by KMS ReEncrypt)');
    expect(run.stdout).toContain('3 values under key B\n');
    expect(run.stdout).toContain('verify: 0 plaintext, 0 undecryptable');
    expect(keyA).not.toBe(keyB);
  });
});

const mongoUrl =
  process.env.MONGODB_URI ??
  serviceUrl({
    name: 'FerretDB (MongoDB wire protocol)',
    env: 'CMEK_MONGO_URL',
    start: 'scripts/services/up.sh ferretdb',
  });

describe.skipIf(!mongoUrl)('examples/mongoose', () => {
  let run: ExampleRun;
  beforeAll(() => {
    run = runExample('mongoose', { CMEK_MONGO_URL: mongoUrl });
  }, 120_000);

  it('exits 0 with nothing on stderr', () => {
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  it('stores tokens for the top-level and the nested path, reads plaintext, refuses a find by secret', () => {
    const lines = run.stdout.split('\n');
    const stored = lines.filter((l) => l.includes('stored: ')).map(storedValue);
    expect(stored).toHaveLength(3);
    expect(stored[0]!.startsWith('cmek:v1:')).toBe(true);
    expect(stored[1]!.startsWith('cmek:v1:')).toBe(true);
    expect(stored[2]).toBe('"smtp.acme.test" (not secret)');
    expect(lines.filter((l) => l.includes('reads:  ')).map(readValue)).toEqual([
      '"xoxb-acme-workspace"',
      '"smtp-rotated"',
    ]);
    expect(run.stdout).toContain('find by slackToken: CMEK_QUERY');
  });
});

const vaultAddr = serviceUrl({
  name: 'Vault (Transit)',
  env: 'CMEK_VAULT_ADDR',
  start: 'scripts/services/up.sh vault',
});
const vaultToken = serviceUrl({
  name: 'Vault (Transit)',
  env: 'CMEK_VAULT_TOKEN',
  start: 'scripts/services/up.sh vault',
});

describe.skipIf(!vaultAddr || !vaultToken)('examples/vault', () => {
  let run: ExampleRun;
  beforeAll(() => {
    run = runExample('vault', { CMEK_VAULT_ADDR: vaultAddr, CMEK_VAULT_TOKEN: vaultToken });
  }, 120_000);

  it('exits 0 with nothing on stderr', () => {
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  it('one datakey for three values, one decrypt for a new reader, rewrap to v2 after rotation', () => {
    expect(run.stdout).toContain('3 values encrypted; Transit calls: datakey ×1\n');
    expect(run.stdout).toContain('(DEK wrapped as vault:v1)');
    expect(run.stdout).toContain('decrypts them all: xoxb-acme, xoxb-globex, xoxb-initech');
    expect(run.stdout).toContain('Transit calls: decrypt ×1\n');
    expect(run.stdout).toContain('3 values rewritten; DEK now wrapped as vault:v2');
    expect(run.stdout).toContain('still reads: xoxb-acme, xoxb-globex, xoxb-initech');
  });
});
