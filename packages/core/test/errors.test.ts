import { describe, expect, it } from 'vitest';
import {
  CmekDecryptionError,
  CmekError,
  CmekFormatError,
  CmekKekAccessDeniedError,
  CmekKekUnavailableError,
  CmekKeyFileError,
  CmekQueryError,
  CmekUnknownKekError,
} from '../src/index';

describe('error hierarchy', () => {
  it('has stable codes and the retryable flag only for an unavailable KEK', () => {
    expect(new CmekFormatError('x').code).toBe('CMEK_FORMAT');
    expect(new CmekDecryptionError().code).toBe('CMEK_DECRYPTION');
    expect(new CmekKekAccessDeniedError('x').code).toBe('CMEK_KEK_ACCESS_DENIED');
    expect(new CmekKeyFileError('/k', 'x')).toMatchObject({ code: 'CMEK_KEY_FILE', path: '/k' });
    expect(new CmekQueryError('a.b', 'x')).toMatchObject({ code: 'CMEK_QUERY', field: 'a.b' });
    const unavailable = new CmekKekUnavailableError('down', { cause: new Error('ECONNREFUSED') });
    expect(unavailable).toMatchObject({ code: 'CMEK_KEK_UNAVAILABLE', retryable: true });
    expect((unavailable.cause as Error).message).toBe('ECONNREFUSED');
    expect(new CmekDecryptionError().retryable).toBe(false);
    expect(new CmekUnknownKekError('local', 'abcd').name).toBe('CmekUnknownKekError');
  });

  it('isInstance recognises errors from another copy of the package by marker and code', () => {
    const foreign = Object.assign(new Error('x'), { code: 'CMEK_DECRYPTION' });
    Object.defineProperty(foreign, Symbol.for('cmek.error'), { value: true });
    expect(CmekError.isInstance(foreign)).toBe(true);
    expect(CmekDecryptionError.isInstance(foreign)).toBe(true);
    expect(CmekFormatError.isInstance(foreign)).toBe(false);
    expect(CmekError.isInstance(Object.assign(new Error('x'), { code: 'CMEK_DECRYPTION' }))).toBe(
      false,
    );
    expect(CmekError.isInstance(null)).toBe(false);
    expect(CmekError.isInstance('CMEK_DECRYPTION')).toBe(false);
  });

  it('subclass isInstance checks the kind, base isInstance accepts all', () => {
    const e = new CmekUnknownKekError('vault', 'transit/app');
    expect(CmekError.isInstance(e)).toBe(true);
    expect(CmekUnknownKekError.isInstance(e)).toBe(true);
    expect(CmekDecryptionError.isInstance(e)).toBe(false);
    expect(e instanceof CmekError).toBe(true);
  });
});
