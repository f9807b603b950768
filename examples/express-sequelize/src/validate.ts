/**
 * The request bodies, checked before anything reaches the model. A message names the field and
 * what is wrong with it, never the value it was given.
 */
import { HttpError } from './http-error';
import { PROVIDERS, type Provider } from './model';

export interface NewIntegration {
  readonly team: string;
  readonly provider: Provider;
  readonly accessToken: string;
  readonly refreshToken: string | null;
}

/** A token rotation: the new tokens (a `refreshToken` left out is kept, `null` removes it). */
export interface TokenUpdate {
  readonly accessToken: string;
  readonly refreshToken?: string | null;
}

const MAX_TOKEN_LENGTH = 4096;

function objectBody(body: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpError(400, 'the body must be a JSON object (Content-Type: application/json)');
  }
  const unknown = Object.keys(body).filter((key) => !allowed.includes(key));
  if (unknown.length > 0) {
    throw new HttpError(
      400,
      `unknown field(s): ${unknown.join(', ')}; allowed: ${allowed.join(', ')}`,
    );
  }
  return body as Record<string, unknown>;
}

function token(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new HttpError(400, `${field} must be a non-empty string`);
  }
  if (value.length > MAX_TOKEN_LENGTH) {
    throw new HttpError(400, `${field} must be at most ${MAX_TOKEN_LENGTH} characters`);
  }
  // The adapter refuses a `cmek:` string that is not a token of this field (CMEK_INVALID_INPUT):
  // say so here as the client's mistake rather than as a server error.
  if (value.startsWith('cmek:')) throw new HttpError(400, `${field} must not start with "cmek:"`);
  return value;
}

function optionalToken(value: unknown, field: string): string | null {
  return value === undefined || value === null ? null : token(value, field);
}

export function parseNewIntegration(body: unknown): NewIntegration {
  const input = objectBody(body, ['team', 'provider', 'accessToken', 'refreshToken']);
  const { team, provider } = input;
  if (typeof team !== 'string' || team.trim().length === 0 || team.length > 100) {
    throw new HttpError(400, 'team must be a non-empty string of at most 100 characters');
  }
  if (!PROVIDERS.includes(provider as Provider)) {
    throw new HttpError(400, `provider must be one of: ${PROVIDERS.join(', ')}`);
  }
  return {
    team,
    provider: provider as Provider,
    accessToken: token(input.accessToken, 'accessToken'),
    refreshToken: optionalToken(input.refreshToken, 'refreshToken'),
  };
}

export function parseTokenUpdate(body: unknown): TokenUpdate {
  const input = objectBody(body, ['accessToken', 'refreshToken']);
  const accessToken = token(input.accessToken, 'accessToken');
  return 'refreshToken' in input
    ? { accessToken, refreshToken: optionalToken(input.refreshToken, 'refreshToken') }
    : { accessToken };
}
