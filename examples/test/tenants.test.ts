/** examples/tenants: two tenants, one onboarded to its own KMS key (moto), revoked, re-enabled. */
import { existsSync } from 'node:fs';
import { serviceUrl } from '@cmek/test-suite';
import { beforeAll, describe, expect, it } from 'vitest';
import { type ExampleRun, runExample, stepOf } from './run-example';

const kmsEndpoint = serviceUrl({
  name: 'moto server (KMS)',
  env: 'CMEK_KMS_ENDPOINT',
  start: 'scripts/services/up.sh moto',
});

/** The tokens the example writes (its inputs, not its output). */
const ACME = 'slack=xoxb-acme-slack, github=ghp-acme-github';
const GLOBEX = 'slack=xoxb-globex-slack, github=ghp-globex-github';
const SECRETS = ['xoxb-acme-slack', 'ghp-acme-github', 'xoxb-globex-slack', 'ghp-globex-github'];

/** `[tenant, service, keyRef]` of each `stored:` line of a step. */
const storedKeys = (step: readonly string[]): string[][] =>
  step.flatMap((l) => {
    const m = /^\s+(\w+)\s+(\w+)\s+stored: cmek:v1:\S+… keyRef (\S+)$/.exec(l);
    return m ? [[m[1]!, m[2]!, m[3]!]] : [];
  });

describe.skipIf(!kmsEndpoint)('examples/tenants', () => {
  let run: ExampleRun;
  let defaultRef: string;
  let globexArn: string;
  beforeAll(() => {
    run = runExample('tenants', {
      CMEK_KMS_ENDPOINT: kmsEndpoint,
      // the AWS SDK's notice that its 2027 releases need Node 22 is not the example's output
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    });
    defaultRef = /local key file, keyRef ([0-9a-f]+);/.exec(run.stdout)?.[1] ?? 'none';
    globexArn = /globex's key on \S+: (arn:aws:kms:\S+)/.exec(run.stdout)?.[1] ?? 'none';
  }, 120_000);

  it('exits 0 with nothing on stderr', () => {
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  it('1. both tenants store tokens under the default KEK and read their plaintext', () => {
    const step = stepOf(run.stdout, 1);
    expect(storedKeys(step)).toEqual([
      ['acme', 'slack', defaultRef],
      ['globex', 'slack', defaultRef],
      ['acme', 'github', defaultRef],
      ['globex', 'github', defaultRef],
    ]);
    for (const secret of SECRETS) {
      for (const line of step.filter((l) => l.includes('stored: '))) {
        expect(line).not.toContain(secret);
      }
    }
    expect(step).toContain(`   acme reads:   ${ACME}`);
    expect(step).toContain(`   globex reads: ${GLOBEX}`);
  });

  it("2. onboarding moves exactly globex's values to its KMS key; acme's rows are untouched", () => {
    const step = stepOf(run.stdout, 2);
    expect(globexArn).toMatch(/^arn:aws:kms:us-east-1:\d+:key\//);
    expect(step).toContain(
      '   rewrap --tenant globex: 2 rows scanned, 2 values rewritten, 1 DEK(s) moved',
    );
    expect(step).toContain(
      "   verify --tenant globex: 2 values under globex's key, 0 undecryptable",
    );
    expect(storedKeys(step)).toEqual([
      ['acme', 'slack', defaultRef],
      ['globex', 'slack', globexArn],
      ['acme', 'github', defaultRef],
      ['globex', 'github', globexArn],
    ]);
    expect(step.join('\n')).toContain("acme's rows are byte-identical");
    expect(step).toContain(`   acme reads:   ${ACME}`);
    expect(step).toContain(`   globex reads: ${GLOBEX}`);
  });

  it('3. with its key disabled globex fails with CMEK_TENANT_KEY_REVOKED; acme reads and writes', () => {
    const step = stepOf(run.stdout, 3);
    expect(step).toContain('   globex reads: CMEK_TENANT_KEY_REVOKED');
    expect(step).toContain('   globex writes: CMEK_TENANT_KEY_REVOKED');
    expect(step).toContain(
      `   acme writes a jira token; acme reads: ${ACME}, jira=atatt-acme-jira`,
    );
    // the refused globex write wrote nothing: four rows of step 1 and acme's new one
    expect(step).toContain('   rows stored: 5');
    for (const secret of ['xoxb-globex-slack', 'ghp-globex-github', 'atatt-globex-jira']) {
      expect(step.join('\n')).not.toContain(secret);
    }
  });

  it('4. with its key enabled again globex reads again', () => {
    expect(stepOf(run.stdout, 4)).toContain(`   globex reads: ${GLOBEX}`);
  });

  it('removes its temporary directory', () => {
    const dir = /were in (\S+) \(now removed\)/.exec(run.stdout)?.[1];
    expect(dir).toBeDefined();
    expect(existsSync(dir!)).toBe(false);
  });
});
