/** The `cmek.kek.outcome` of a KEK call: a small closed set an alert can select on. */

export type KekOutcome = 'ok' | 'unavailable' | 'access_denied' | 'unknown_kek' | 'error';

export function outcomeOf(errorCode: string | undefined): KekOutcome {
  switch (errorCode) {
    case undefined:
      return 'ok';
    case 'CMEK_KEK_UNAVAILABLE':
      return 'unavailable';
    case 'CMEK_KEK_ACCESS_DENIED':
      return 'access_denied';
    case 'CMEK_UNKNOWN_KEK':
      return 'unknown_kek';
    default:
      return 'error';
  }
}

/** The `code` of a thrown cmek error, else the semantic-convention fallback `_OTHER`. */
export function errorTypeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('CMEK_') ? code : '_OTHER';
}
