import { describe, expect, it } from 'vitest';
import { redact } from '../src/redact';

const TOKEN = 'cmek:v1:AQAAAGxvY2Fs|c2FsdHNhbHQ|gAAAAABk_long-fernet-part';

describe('redact', () => {
  it('keeps only a short prefix of a token', () => {
    expect(redact(`bad value ${TOKEN} here`)).toBe('bad value cmek:v1:AQ… here');
    expect(redact('not a cmek:v1: token')).toBe('not a cmek:v1: token');
  });

  it("removes the values knex interpolates into a statement's text", () => {
    const knex = `update "integrations" set "secret" = '${TOKEN}' where "id" = 7 and "secret" = 'it''s secret-7' - value too long for type character varying(20)`;
    expect(redact(knex)).toBe(
      `update "integrations" set "secret" = '…' where "id" = 7 and "secret" = '…' - value too long for type character varying(20)`,
    );
    const insert =
      "insert into `users` (`email`, `n`) values ('a@b.c', 1), ('d@e.f', 2) - ER_DUP_ENTRY";
    expect(redact(insert)).toBe('insert into `users` (`email`, `n`) values (…) - ER_DUP_ENTRY');
  });

  it('removes the values drivers quote in their messages and details', () => {
    expect(redact("Duplicate entry 'a@b.c' for key 'users.email'")).toBe(
      "Duplicate entry '…' for key 'users.email'",
    );
    expect(redact('Key (email)=(a@b.c) already exists.')).toBe('Key (email)=(…) already exists.');
    expect(redact('Failing row contains (1, secret-1, null).')).toBe('Failing row contains (…).');
    expect(redact('invalid input syntax for type integer: "secret-1"')).toBe(
      'invalid input syntax for type integer: "…"',
    );
    expect(
      redact(
        'E11000 duplicate key error collection: db.users index: email_1 dup key: { email: "a@b.c" }',
      ),
    ).toBe('E11000 duplicate key error collection: db.users index: email_1 dup key: { … }');
    expect(redact("query failed; parameters: ['secret-1', 3]")).toBe(
      'query failed; parameters: […]',
    );
    expect(redact("bindings:\n  - 'secret-1'\n  - 'x'")).toBe('bindings:\n  - …\n  - …');
  });

  it('removes the values it is given, wherever they are', () => {
    expect(redact('had <hunter2>, got <x>', ['hunter2', 'x'])).toBe('had <[value]>, got <[value]>');
    // A one-letter value goes only where it stands alone.
    expect(redact('max 5 got x', ['x'])).toBe('max 5 got [value]');
  });
});
