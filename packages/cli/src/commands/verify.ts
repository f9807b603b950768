/** `cmek verify`: plaintext, encrypted per KEK and undecryptable, per store and field. */
import { createEnvelope, type VerifyReport, verify } from '@cmek/core';
import { keyringOf, loadConfig, storesOf } from '../config';
import { EXIT, type ExitCode } from '../exit-codes';
import { type CliIo, line } from '../io';
import { progressFor } from '../progress';
import type { CommonOptions } from './shared';

function describe(io: CliIo, report: VerifyReport): void {
  line(
    io.stdout,
    `verify ${report.store}: ${report.status}, ${report.rows} rows, ${report.undecryptable} undecryptable`,
  );
  for (const [field, f] of Object.entries(report.fields)) {
    line(
      io.stdout,
      `  ${field}: ${f.plaintext} plaintext, ${f.nulls} null, ${f.undecryptable} undecryptable`,
    );
    for (const e of f.encrypted)
      line(io.stdout, `    encrypted ${e.providerId} ${e.keyRef}: ${e.count}`);
    for (const e of f.errors) {
      const kek = e.providerId === undefined ? '' : ` (${e.providerId} ${e.keyRef})`;
      line(io.stdout, `    undecryptable ${e.code}${kek}: ${e.count}`);
    }
  }
}

export async function runVerify(options: CommonOptions, io: CliIo): Promise<ExitCode> {
  const loaded = await loadConfig(options.config, io.cwd, io.importModule);
  try {
    const stores = await storesOf(loaded, options.store);
    const envelope = createEnvelope({ kek: await keyringOf(loaded) });
    const progress = progressFor(io, options.json !== true);
    const reports: VerifyReport[] = [];
    try {
      for (const store of stores) {
        const report = await verify(store, {
          envelope,
          ...(options.batch === undefined ? {} : { batchSize: options.batch }),
          ...(io.signal ? { signal: io.signal } : {}),
          ...(progress.listener ? { onProgress: progress.listener } : {}),
        });
        reports.push(report);
        if (options.json !== true) describe(io, report);
        if (report.status === 'aborted') break;
      }
    } finally {
      progress.stop();
      await envelope.close();
    }
    const exitCode: ExitCode = reports.some((r) => r.status === 'aborted')
      ? EXIT.interrupted
      : reports.some((r) => r.undecryptable > 0)
        ? EXIT.undecryptable
        : EXIT.ok;
    const undecryptable = reports.reduce((sum, r) => sum + r.undecryptable, 0);
    if (options.json === true) {
      line(
        io.stdout,
        JSON.stringify({ command: 'verify', exitCode, undecryptable, stores: reports }),
      );
    } else if (exitCode === EXIT.undecryptable) {
      line(
        io.stderr,
        `cmek: ${undecryptable} values cannot be decrypted with this keyring: do not retire a KEK they need`,
      );
    }
    return exitCode;
  } finally {
    await loaded.config.close?.();
  }
}
