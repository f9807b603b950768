/** How the demo shows stored values and engine reports: short lines a person can follow. */

import { inspectToken, TOKEN_PREFIX } from '@cmek/core';

let step = 0;

/** Prints the heading of the next numbered step. */
export function heading(text: string): void {
  step += 1;
  console.log(`\n${step}. ${text}`);
}

export function line(text = ''): void {
  console.log(text ? `   ${text}` : '');
}

/** A stored value as it is worth reading: a token cut short (with its length), or the value. */
export function stored(value: unknown): string {
  if (typeof value === 'string' && value.startsWith(TOKEN_PREFIX)) {
    return `${value.slice(0, 40)}… (${value.length} chars)`;
  }
  return value === null || value === undefined ? 'NULL' : JSON.stringify(value);
}

/** The key a token's DEK is wrapped under, read from the token without decrypting it. */
export function kekOf(token: unknown): string {
  if (typeof token !== 'string') return 'none (not a token)';
  const info = inspectToken(token);
  return `${info.providerId}/${info.keyRef}`;
}

/** One field of one row: what the database holds beside what the application reads. */
export function showField(column: string, raw: unknown, read: unknown): void {
  line(`  ${column.padEnd(14)}  stored: ${stored(raw)}`);
  line(`  ${''.padEnd(14)}  reads:  ${JSON.stringify(read)}`);
}
