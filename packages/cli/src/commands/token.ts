/** `cmek inspect <token>` and `cmek decrypt <token>`; `-` reads the token from stdin. */
import { CmekInvalidInputError, createEnvelope, inspectToken } from '@cmek/core';
import { keyringOf, loadConfig, storesOf } from '../config';
import { EXIT, type ExitCode } from '../exit-codes';
import { type CliIo, line } from '../io';
import { printJsonReport, type Session } from '../session';

async function readToken(arg: string, io: CliIo): Promise<string> {
  if (arg !== '-') return arg.trim();
  const chunks: Buffer[] = [];
  for await (const chunk of io.stdin) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8').trim();
}

export async function runInspect(
  arg: string,
  options: { json?: boolean },
  io: CliIo,
): Promise<ExitCode> {
  const info = inspectToken(await readToken(arg, io));
  if (options.json === true) line(io.stdout, JSON.stringify(info));
  else {
    line(io.stdout, `version   ${info.version}`);
    line(io.stdout, `provider  ${info.providerId}`);
    line(io.stdout, `keyRef    ${info.keyRef}`);
    line(io.stdout, `dekId     ${info.dekId}`);
  }
  return EXIT.ok;
}

export interface DecryptOptions {
  config?: string;
  json?: boolean;
  context?: string[];
  store?: string;
  field?: string;
}

function parseContext(pairs: readonly string[]): Record<string, string> {
  const context: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0)
      throw new CmekInvalidInputError(`--context takes key=value, not '${pair.slice(0, 40)}'`);
    context[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return context;
}

export async function runDecrypt(
  arg: string,
  options: DecryptOptions,
  io: CliIo,
  session: Session,
): Promise<ExitCode> {
  const token = await readToken(arg, io);
  const loaded = await loadConfig(options.config, io.cwd, io.importModule);
  try {
    let context: Record<string, string> | undefined;
    if (options.store !== undefined || options.field !== undefined) {
      if (
        options.store === undefined ||
        options.field === undefined ||
        options.context !== undefined
      ) {
        throw new CmekInvalidInputError(
          'use --store <name> --field <field>, or --context key=value',
        );
      }
      const [store] = await storesOf(loaded, [options.store]);
      context = store!.contextFor(options.field);
    } else if (options.context !== undefined) {
      context = parseContext(options.context);
    }
    const envelope = createEnvelope({ kek: await keyringOf(loaded) });
    try {
      const plaintext = await envelope.decrypt(token, {
        plaintextPolicy: 'reject',
        ...(context === undefined ? {} : { context }),
      });
      line(
        io.stderr,
        'cmek: warning: the decrypted value is now in this terminal (and its scrollback or any log of it); clear them when done',
      );
      if (options.json === true) {
        printJsonReport(session, io.stdout, EXIT.ok, undefined, { value: plaintext });
      } else line(io.stdout, plaintext);
      return EXIT.ok;
    } finally {
      await envelope.close();
    }
  } finally {
    await loaded.config.close?.();
  }
}
