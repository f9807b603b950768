/** What the API returns for an integration: a summary without tokens, or the full record. */
import type { IntegrationConnection } from './model';

export interface IntegrationSummary {
  readonly id: number;
  readonly team: string;
  readonly provider: string;
  /** The last 4 characters of the access token (`…a1b2`), only for tokens of 20 or more. */
  readonly accessTokenHint: string | null;
  readonly hasRefreshToken: boolean;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface IntegrationDetail extends IntegrationSummary {
  readonly accessToken: string;
  readonly refreshToken: string | null;
}

/** A hint short enough to recognise a token by, and only when it gives little of it away. */
function hint(token: string): string | null {
  return token.length >= 20 ? `…${token.slice(-4)}` : null;
}

export function summary(row: IntegrationConnection): IntegrationSummary {
  return {
    id: row.id,
    team: row.team,
    provider: row.provider,
    accessTokenHint: hint(row.accessToken),
    hasRefreshToken: row.refreshToken !== null,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

export function detail(row: IntegrationConnection): IntegrationDetail {
  return { ...summary(row), accessToken: row.accessToken, refreshToken: row.refreshToken };
}
