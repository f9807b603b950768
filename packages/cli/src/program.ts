/** The `cmek` command line (commander), runnable in-process: `run(argv, io)` returns the exit code. */
import { CmekInvalidInputError } from '@cmek/core';
import { DEFAULT_MAX_UNDECRYPTABLE_IDS } from '@cmek/core/engine';
import { Command, CommanderError, Option } from 'commander';
import { runKeygen } from './commands/keygen';
import { collect, positiveInt, withStoreOptions, withVerbose } from './commands/shared';
import { runDecrypt, runInspect } from './commands/token';
import { runVerify } from './commands/verify';
import { runWriteCommand } from './commands/write';
import { EXIT, type ExitCode } from './exit-codes';
import { helpAfter } from './help';
import { type CliIo, processIo } from './io';
import { newSession, printJsonReport, reportFailure, type Session } from './session';
import { VERSION } from './version';

function build(io: CliIo, session: Session, setCode: (code: ExitCode) => void): Command {
  const program = new Command('cmek')
    .description(
      'Backfill, rotate and verify cmek:v1 encrypted fields; inspect and decrypt tokens.',
    )
    .version(VERSION, '-V, --version', 'print the version of @cmek/cli')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .showHelpAfterError();
  /** Every subcommand: `--verbose`, the examples and exit codes after its help, the session. */
  const command = (name: string): Command =>
    withVerbose(program.command(name))
      .addHelpText('after', helpAfter(name))
      .hook('preAction', (_self, action) => {
        const options = action.opts<{ json?: boolean; verbose?: boolean }>();
        session.command = name;
        session.json = options.json === true;
        session.verbose = options.verbose === true;
      });

  command('keygen')
    .description('write a new local KEK file (32 random bytes, mode 0600); never replaces a file')
    .argument('<path>', 'where to write the key file')
    .option('--json', 'print { path, keyRef } as JSON')
    .action(async (path: string, options: { json?: boolean }) =>
      setCode(await runKeygen(path, options, io)),
    );

  const writeOptions = (command: Command): Command =>
    withStoreOptions(command)
      .option('--dry-run', 'read and count only: write nothing, call no KEK, save no checkpoint')
      .option(
        '--concurrency <n>',
        'writes and KEK calls in flight (default 8)',
        positiveInt('--concurrency'),
      )
      .option(
        '--checkpoint-dir <dir>',
        'where checkpoints are kept (default: .cmek beside the config file)',
      )
      .option('--restart', 'ignore and delete the checkpoint: start at the first row')
      .option(
        '--tenant <id>',
        "only this tenant's rows (stores with a tenantColumn, a tenant envelope in the config); its own checkpoint",
      );

  writeOptions(
    command('backfill').description(
      'encrypt legacy plaintext values in place, resumably, never overwriting concurrent writes',
    ),
  )
    .option(
      '--reindex',
      'also decrypt values whose blind index exists, recompute it and rewrite the mismatched ones',
    )
    .action(async (options) => setCode(await runWriteCommand('backfill', options, io, session)));

  writeOptions(
    command('rotate').description(
      "rewrap every DEK to the keyring's primary KEK (the Fernet parts are left as they are)",
    ),
  )
    .option(
      '--old-key-file <file>',
      'local KEK to move away from (with --new-key-file, instead of the config keyring)',
    )
    .option('--new-key-file <file>', 'local KEK to move to')
    .option(
      '--include-primary',
      'also pass DEKs already under the primary through its server-side rewrap (Vault key versions)',
    )
    .action(async (options) => setCode(await runWriteCommand('rewrap', options, io, session)));

  withStoreOptions(
    command('verify').description(
      'count plaintext, encrypted per KEK and undecryptable values, check blind indexes; exit 3 if any is undecryptable, 5 if an index is missing or stale',
    ),
  )
    .option(
      '--max-undecryptable-ids <n>',
      `primary keys of undecryptable rows (and of rows to re-index) listed per store and field (default ${DEFAULT_MAX_UNDECRYPTABLE_IDS}; 0: none)`,
      positiveInt('--max-undecryptable-ids', 0),
    )
    .option(
      '--tenant <id>',
      "only this tenant's rows (stores with a tenantColumn, a tenant envelope in the config)",
    )
    .action(async (options) => setCode(await runVerify(options, io, session)));

  command('inspect')
    .description(
      "show a token's provider, key reference and DEK id (no key needed, nothing decrypted)",
    )
    .argument('<token>', "the token, or '-' to read it from stdin")
    .option('--json', 'print JSON')
    .action(async (token: string, options: { json?: boolean }) =>
      setCode(await runInspect(token, options, io)),
    );

  command('decrypt')
    .description(
      'decrypt one token with the config keyring (prints the plaintext: handle with care)',
    )
    .argument('<token>', "the token, or '-' to read it from stdin (keeps it out of shell history)")
    .option('-c, --config <file>', 'the config file')
    .option('--json', 'print { value } as JSON; on failure, the error report')
    .option('--store <name>', 'use the context of this store ... ')
    .option('--field <field>', '... and this field')
    .addOption(
      new Option('--context <key=value>', 'the encryption context, entry by entry').argParser(
        collect,
      ),
    )
    .action(async (token: string, options) =>
      setCode(await runDecrypt(token, options, io, session)),
    );

  return program;
}

/** Runs `cmek` with `argv` (without the node and script entries); resolves to the exit code. */
export async function run(
  argv: readonly string[],
  io: CliIo = processIo(),
  onSession?: (session: Session) => void,
): Promise<ExitCode> {
  let code: ExitCode = EXIT.ok;
  const session = newSession(argv);
  onSession?.(session);
  const program = build(io, session, (c) => {
    code = c;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version print and exit 0; every other parse error is a usage error.
      if (error.exitCode === 0) return EXIT.ok;
      if (session.json) {
        const usage = new CmekInvalidInputError(error.message.replace(/^error: /, ''));
        printJsonReport(session, io.stdout, EXIT.usage, usage, {});
      }
      return EXIT.usage;
    }
    return reportFailure(session, error, io);
  }
}
