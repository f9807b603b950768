/** The exit codes of `cmek` (documented in the README; scripts depend on them). */
export const EXIT = {
  /** Done; nothing left to do. */
  ok: 0,
  /** A failure: an error (database, KEK service), or values that could not be processed. */
  failure: 1,
  /** Bad usage or configuration: unknown option or store, no config file, invalid config. */
  usage: 2,
  /** `verify` found undecryptable values: do not retire a KEK. */
  undecryptable: 3,
  /** `backfill` / `rotate` finished, but rows changed by the application meanwhile remain: run it again. */
  conflicts: 4,
  /** `verify` found blind-index values missing or not matching their value (and nothing undecryptable): run `backfill`. */
  indexProblems: 5,
  /** Interrupted (SIGINT / SIGTERM) after the batch in flight; the checkpoint is kept: run it again to resume. */
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];
