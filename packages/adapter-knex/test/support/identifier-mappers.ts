/**
 * Identifier mappers in the manner of objection's `knexSnakeCaseMappers()`, written out so the
 * tests need no dependency on objection: the application names identifiers in camelCase
 * (`accessToken`), `wrapIdentifier` sends them to the database in snake_case (`access_token`),
 * and `postProcessResponse` turns the keys of result rows back into camelCase.
 */
import type { Knex } from 'knex';

/** `accessToken` → `access_token`; a snake_case name is left as it is. */
export function snakeCase(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
}

/** `access_token` → `accessToken`. */
export function camelCase(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_match, next: string) => next.toUpperCase());
}

function camelKeys(row: unknown): unknown {
  if (typeof row !== 'object' || row === null || Array.isArray(row) || Buffer.isBuffer(row)) {
    return row;
  }
  return Object.fromEntries(Object.entries(row).map(([key, value]) => [camelCase(key), value]));
}

type WrapIdentifier = NonNullable<Knex.Config['wrapIdentifier']>;
type PostProcessResponse = NonNullable<Knex.Config['postProcessResponse']>;

const wrapIdentifier: WrapIdentifier = (value, origImpl) =>
  origImpl(value === '*' ? value : snakeCase(value));

const postProcessResponse: PostProcessResponse = (result: unknown) =>
  Array.isArray(result) ? result.map(camelKeys) : camelKeys(result);

/** The knex config of snake_case identifiers in the database and camelCase ones in the code. */
export function snakeCaseMappers(): {
  wrapIdentifier: WrapIdentifier;
  postProcessResponse: PostProcessResponse;
} {
  return { wrapIdentifier, postProcessResponse };
}

/** Only the `wrapIdentifier` half: result keys come back as the database names them. */
export function snakeCaseIdentifiers(): { wrapIdentifier: WrapIdentifier } {
  return { wrapIdentifier };
}
