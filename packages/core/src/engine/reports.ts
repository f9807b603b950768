/** The per-field counts of a backfill or rewrap: a leaf, so checkpoints and counts need no other engine type. */

/** Counts of one field in a backfill or rewrap run. */
export interface WriteFieldReport {
  /** Values that needed work: plaintext (backfill) or tokens not yet under the primary (rewrap). */
  candidates: number;
  /** Values written (always 0 in a dry run). */
  written: number;
  /** Values already done: encrypted (backfill) or under the primary (rewrap). */
  skipped: number;
  /** `null` values (never encrypted). */
  nulls: number;
  /** Plaintext values a rewrap leaves alone (backfill them first). */
  plaintext: number;
  /** Compare-and-set writes lost to a concurrent change (each retried later). */
  conflicts: number;
  /** Conflicts still unresolved at the end: run again to pick them up. */
  conflictsRemaining: number;
  /** Values that could not be processed, by error code (e.g. `CMEK_UNKNOWN_KEK`). */
  failed: Record<string, number>;
  /**
   * Backfill of a field with a blind index only: `candidates` are the rows whose index values were
   * due (a plaintext being encrypted, or a token whose index column is empty or of another key or
   * mode: read by decrypting), `written` the rows whose index values were written (0 in a dry run).
   */
  indexes?: IndexWriteCounts;
}

/** The blind-index counts of one field in a backfill. */
export interface IndexWriteCounts {
  candidates: number;
  written: number;
}
