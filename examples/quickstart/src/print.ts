/** How the demo shows stored values and engine reports: short lines a person can follow. */

import type { VerifyReport, WriteReport } from '@cmek/core';
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

export function summarizeWrite(report: WriteReport): string {
  const fields = Object.entries(report.fields);
  const written = fields.reduce((sum, [, f]) => sum + f.written, 0);
  const skipped = fields.reduce((sum, [, f]) => sum + f.skipped, 0);
  const perField = fields.map(([name, f]) => `${name} ${f.written}`).join(', ');
  return `${report.store}: ${written} written (${perField}), ${skipped} already done`;
}

export interface VerifyTotals {
  encrypted: Map<string, number>;
  plaintext: number;
  undecryptable: number;
}

export function addVerify(totals: VerifyTotals, report: VerifyReport): string {
  let plaintext = 0;
  const perKek = new Map<string, number>();
  for (const field of Object.values(report.fields)) {
    plaintext += field.plaintext;
    for (const { providerId, keyRef, count } of field.encrypted) {
      const kek = `${providerId}/${keyRef}`;
      perKek.set(kek, (perKek.get(kek) ?? 0) + count);
      totals.encrypted.set(kek, (totals.encrypted.get(kek) ?? 0) + count);
    }
  }
  totals.plaintext += plaintext;
  totals.undecryptable += report.undecryptable;
  const encrypted = [...perKek].map(([kek, n]) => `${n} under ${kek}`).join(', ') || '0 encrypted';
  return `${report.store}: ${encrypted}, ${plaintext} plaintext, ${report.undecryptable} undecryptable`;
}
