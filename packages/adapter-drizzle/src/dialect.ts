/** Which SQL dialect a Drizzle database speaks. */
import { entityKind } from 'drizzle-orm';

export type Dialect = 'pg' | 'mysql' | 'sqlite';

export function dialectOf(db: unknown): Dialect | undefined {
  const dialect = (db as { dialect?: { constructor?: Record<symbol, unknown> } } | null)?.dialect;
  const kind = String(dialect?.constructor?.[entityKind] ?? '');
  if (/^Pg/.test(kind)) return 'pg';
  if (/^MySql/.test(kind)) return 'mysql';
  if (/^SQLite/.test(kind)) return 'sqlite';
  return undefined;
}

/** A better-sqlite3 (or other synchronous driver) database: its transactions cannot await. */
export function isSyncSqlite(db: unknown): boolean {
  return (db as { resultKind?: unknown } | null)?.resultKind === 'sync';
}
