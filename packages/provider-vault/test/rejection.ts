import { CmekError } from '@cmek/core';

/** The `CmekError` a call rejects with; anything else (or resolving) fails the test. */
export async function rejection(promise: Promise<unknown>): Promise<CmekError> {
  try {
    await promise;
  } catch (error) {
    if (!CmekError.isInstance(error)) throw error;
    return error;
  }
  throw new Error('the call resolved instead of rejecting');
}
