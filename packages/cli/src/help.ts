/** The examples and exit codes printed after each command's `--help`. */

const EXIT_CODES: Record<string, readonly string[]> = {
  keygen: ['0  the key file was written', '1  it exists already, or cannot be written'],
  backfill: [
    '0    done: nothing left to encrypt',
    '1    an error (database, KEK service; the report says which and if retryable), or failed values',
    '2    usage or configuration error',
    '4    done, but rows the application changed meanwhile still conflict: run it again',
    '130  interrupted (SIGINT / SIGTERM) after the batch in flight; the checkpoint is kept',
  ],
  rotate: [
    '0    done: every DEK is under the primary KEK',
    '1    an error (database, KEK service; the report says which and if retryable), or failed values',
    '2    usage or configuration error',
    '4    done, but rows the application changed meanwhile still conflict: run it again',
    '130  interrupted (SIGINT / SIGTERM) after the batch in flight; the checkpoint is kept',
  ],
  verify: [
    '0    every value decrypts with this keyring',
    '1    an error (database, KEK service)',
    '2    usage or configuration error',
    '3    undecryptable values: do not retire a KEK they need',
    '5    blind-index values missing or not matching (nothing undecryptable): run cmek backfill',
    '130  interrupted (SIGINT / SIGTERM)',
  ],
  inspect: ['0  shown', '1  not a cmek:v1 token (CMEK_FORMAT)'],
  decrypt: [
    '0  the value is on stdout',
    '1  it does not decrypt (wrong context or key, unknown KEK, altered value)',
    '2  usage or configuration error',
  ],
};

const EXAMPLES: Record<string, readonly string[]> = {
  keygen: ['cmek keygen /etc/app/kek.key'],
  backfill: [
    'cmek backfill --dry-run',
    'cmek backfill --store users --batch 1000',
    'cmek backfill --json > backfill.json   # one report on stdout, on every exit',
    'cmek backfill --restart                # ignore the checkpoint',
    'cmek backfill --reindex                # also rewrite blind indexes that do not match',
    'cmek backfill --tenant acme --store integrations',
  ],
  rotate: [
    'cmek rotate',
    'cmek rotate --old-key-file old.key --new-key-file new.key',
    'cmek rotate --include-primary --json',
    "cmek rotate --tenant acme --store integrations   # move one tenant to its resolver's KEK",
  ],
  verify: [
    'cmek verify',
    'cmek verify --config cmek.new-only.ts --json',
    'cmek verify --json --max-undecryptable-ids 1000   # more primary keys of undecryptable rows',
    'cmek verify --tenant acme --store integrations --json',
  ],
  inspect: ["cmek inspect 'cmek:v1:…'", 'cmek inspect - < token.txt'],
  decrypt: [
    'cmek decrypt - --store users --field email < token.txt',
    'cmek decrypt - --context field=users.email --json < token.txt',
  ],
};

/** The text after the options of `cmek <command> --help`. */
export function helpAfter(command: string): string {
  const examples = (EXAMPLES[command] ?? []).map((e) => `  $ ${e}`);
  const codes = (EXIT_CODES[command] ?? []).map((c) => `  ${c}`);
  return ['', 'Examples:', ...examples, '', 'Exit codes:', ...codes].join('\n');
}
