/** The `cmek` command line (commander), runnable in-process: `run(argv, io)` returns the exit code. */
import { CmekError } from '@cmek/core';
import { Command, CommanderError, Option } from 'commander';
import { runKeygen } from './commands/keygen';
import { collect, positiveInt, withStoreOptions } from './commands/shared';
import { runDecrypt, runInspect } from './commands/token';
import { runVerify } from './commands/verify';
import { runWriteCommand } from './commands/write';
import { EXIT, type ExitCode } from './exit-codes';
import { type CliIo, line, processIo } from './io';

const USAGE_CODES = new Set(['CMEK_CONFIG', 'CMEK_INVALID_INPUT']);

function messageOf(error: unknown): string {
  if (CmekError.isInstance(error)) {
    const cause =
      error.code === 'CMEK_CONFIG' && error.cause instanceof Error
        ? `: ${error.cause.message}`
        : '';
    return `${error.message}${cause} [${error.code}]`;
  }
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.slice(0, 500);
}

function build(io: CliIo, setCode: (code: ExitCode) => void): Command {
  const program = new Command('cmek')
    .description(
      'Backfill, rotate and verify cmek:v1 encrypted fields; inspect and decrypt tokens.',
    )
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .showHelpAfterError();

  program
    .command('keygen')
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
      .option('--restart', 'ignore and delete the checkpoint: start at the first row');

  writeOptions(
    program
      .command('backfill')
      .description(
        'encrypt legacy plaintext values in place, resumably, never overwriting concurrent writes',
      ),
  ).action(async (options) => setCode(await runWriteCommand('backfill', options, io)));

  writeOptions(
    program
      .command('rotate')
      .description(
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
    .action(async (options) => setCode(await runWriteCommand('rewrap', options, io)));

  withStoreOptions(
    program
      .command('verify')
      .description(
        'count plaintext, encrypted per KEK and undecryptable values; exit 3 if any is undecryptable',
      ),
  ).action(async (options) => setCode(await runVerify(options, io)));

  program
    .command('inspect')
    .description(
      "show a token's provider, key reference and DEK id (no key needed, nothing decrypted)",
    )
    .argument('<token>', "the token, or '-' to read it from stdin")
    .option('--json', 'print JSON')
    .action(async (token: string, options: { json?: boolean }) =>
      setCode(await runInspect(token, options, io)),
    );

  program
    .command('decrypt')
    .description(
      'decrypt one token with the config keyring (prints the plaintext: handle with care)',
    )
    .argument('<token>', "the token, or '-' to read it from stdin (keeps it out of shell history)")
    .option('-c, --config <file>', 'the config file')
    .option('--store <name>', 'use the context of this store ... ')
    .option('--field <field>', '... and this field')
    .addOption(
      new Option('--context <key=value>', 'the encryption context, entry by entry').argParser(
        collect,
      ),
    )
    .action(async (token: string, options) => setCode(await runDecrypt(token, options, io)));

  return program;
}

/** Runs `cmek` with `argv` (without the node and script entries); resolves to the exit code. */
export async function run(argv: readonly string[], io: CliIo = processIo()): Promise<ExitCode> {
  let code: ExitCode = EXIT.ok;
  const program = build(io, (c) => {
    code = c;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version print and exit 0; every other parse error is a usage error.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    line(io.stderr, `cmek: ${messageOf(error)}`);
    return CmekError.isInstance(error) && USAGE_CODES.has(error.code) ? EXIT.usage : EXIT.failure;
  }
}
