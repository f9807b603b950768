/** SQLite files for the integration tests, seeded and read directly with better-sqlite3. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'cmek-cli-'));
}

/** `n` legacy plaintext rows: `secret` = `secret-<id>`, `note` = `note-<id>` or null (every 7th). */
export function seedSqlite(path: string, table: string, n: number): void {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec(`CREATE TABLE ${table} (id INTEGER PRIMARY KEY, secret TEXT, note TEXT)`);
  const insert = db.prepare(`INSERT INTO ${table} (id, secret, note) VALUES (?, ?, ?)`);
  db.transaction(() => {
    for (let id = 1; id <= n; id++)
      insert.run(id, `secret-${id}`, id % 7 === 0 ? null : `note-${id}`);
  })();
  db.close();
}

export interface StoredRow {
  id: number;
  secret: string | null;
  note: string | null;
}

/** The stored values, read around any ORM. */
export function readSqlite(path: string, table: string): StoredRow[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare(`SELECT id, secret, note FROM ${table} ORDER BY id`).all() as StoredRow[];
  } finally {
    db.close();
  }
}
