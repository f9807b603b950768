/**
 * The Knex the tests run on: the newest of the peer range (`knex`), or its lowest
 * (`knex-lowest`, an alias of the lowest version the peer range allows) when `CMEK_KNEX=lowest`;
 * the test command runs this project once more that way (scripts/test-all.sh).
 */
import knexLatest from 'knex';
import knexLowest from 'knex-lowest';

const lowest = process.env.CMEK_KNEX === 'lowest';

export const knexFactory = (lowest ? knexLowest : knexLatest) as unknown as typeof knexLatest;

/** The version under test, e.g. `3.1.0`. */
export const knexVersion: string = (
  lowest
    ? await import('knex-lowest/package.json', { with: { type: 'json' } })
    : await import('knex/package.json', { with: { type: 'json' } })
).default.version;
