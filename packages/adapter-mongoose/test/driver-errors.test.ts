/** `scrubTokens` on the shapes of MongoDB's own errors (FerretDB's messages quote no value). */
import { describe, expect, it } from 'vitest';
import { scrubTokens } from '../src/driver-errors';

const TOKEN =
  'cmek:v1:AQVsb2NhbAAQMTgzODc5MDM1YTQ0NmI1MO01zOT8-Q65L9bPkmnzSZJkbrL0WBuVYOcyuhME2|fC1UDXUhQ22O341y68qoqg|gAAAAABrFrl2T4ENmG3QdW3YaKIU3vl1e8pNFBAiiiZ1aI==';

class MongoServerError extends Error {
  code = 11000;
  errorResponse: Record<string, unknown>;
  keyValue: Record<string, unknown>;
  constructor(message: string) {
    super(message);
    this.name = 'MongoServerError';
    this.keyValue = { apiKey: TOKEN };
    this.errorResponse = { errmsg: message, code: 11000, keyValue: { apiKey: TOKEN } };
  }
}

class WriteError {
  constructor(readonly err: { index: number; code: number; op: Record<string, unknown> }) {}
}

describe('scrubTokens', () => {
  it('cuts a duplicate-key error of MongoDB and keeps its class and code', () => {
    const message = `E11000 duplicate key error collection: app.keys index: apiKey_1 dup key: { apiKey: "${TOKEN}" }`;
    const error = scrubTokens(new MongoServerError(message));
    expect(error).toBeInstanceOf(MongoServerError);
    expect(error.code).toBe(11000);
    const all = [error.message, error.stack, JSON.stringify(error)].join('\n');
    expect(all).not.toContain(TOKEN.slice(0, 20));
    expect(error.message).toContain('dup key: { apiKey: "cmek:v1:AQ…" }');
    expect(error.keyValue).toEqual({ apiKey: 'cmek:v1:AQ…' });
  });

  it('replaces the documents in a bulk write error by copies, never changing the originals', () => {
    const document = { name: 'a', apiKey: TOKEN };
    const error = Object.assign(new Error('E11000 duplicate key error'), {
      writeErrors: [new WriteError({ index: 0, code: 11000, op: document })],
      cause: Object.assign(new Error(`inner ${TOKEN}`), { detail: [TOKEN] }),
    });
    scrubTokens(error);
    expect(document.apiKey).toBe(TOKEN);
    expect(error.writeErrors[0]!.err.op).toEqual({ name: 'a', apiKey: 'cmek:v1:AQ…' });
    expect(error.writeErrors[0]!.err.index).toBe(0);
    expect(JSON.stringify(error)).not.toContain(TOKEN.slice(0, 20));
    expect((error.cause as Error).message).toBe('inner cmek:v1:AQ…');
    expect((error.cause as unknown as { detail: string[] }).detail).toEqual(['cmek:v1:AQ…']);
  });

  it('cuts the digest of a blind-index value in a duplicate-key error, keeping its mode and key id', () => {
    const index = 'cmek:bi1:h:7e156e3a15a6f2aa:Q2hlY2sgdGhhdCB0aGUgZGlnZXN0IGlzIGN1dCBvdXQ';
    const error = scrubTokens(
      new MongoServerError(`E11000 duplicate key error dup key: { tokenBidx: "${index}" }`),
    );
    expect(error.message).toContain('dup key: { tokenBidx: "cmek:bi1:h:7e156e3a15a6f2aa:Q2…" }');
    expect(JSON.stringify({ m: error.message, s: error.stack })).not.toContain(index.slice(-20));
  });

  it('leaves an error without tokens as it is, and survives cycles', () => {
    const error = new Error('connection reset') as Error & { self?: unknown };
    error.self = error;
    const before = error.message;
    expect(scrubTokens(error)).toBe(error);
    expect(error.message).toBe(before);
    expect(scrubTokens('not an error')).toBe('not an error');
  });
});
