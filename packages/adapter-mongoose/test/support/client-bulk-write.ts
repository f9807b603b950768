/**
 * A stand-in for `client.bulkWrite` (MongoDB 8.0's client bulk write, which FerretDB and mongod
 * before 8.0 lack): it applies each operation Mongoose's `connection.bulkWrite` sends with the
 * driver's collection methods, and records it. On mongod 8.0+ (MONGODB_URI) none is put.
 */
import type { Database } from './mongo';
import { onFerretDb } from './mongo';

export interface SentOperation {
  readonly name: string;
  readonly namespace: string;
  readonly [key: string]: unknown;
}

type DriverCollection = Record<string, (...args: unknown[]) => Promise<unknown>>;

interface ClientView {
  bulkWrite?(ops: SentOperation[]): Promise<unknown>;
  db(name: string): { collection(name: string): DriverCollection };
}

/** Puts the stand-in when the server needs one; returns a remover (a no-op otherwise). */
export async function standInClientBulkWrite(
  db: Database,
  sent: SentOperation[] = [],
): Promise<() => void> {
  const { version } = await db.raw.admin().serverInfo();
  if (!onFerretDb && Number(String(version).split('.')[0]) >= 8) return () => undefined;
  const client = db.conn.getClient() as unknown as ClientView;
  client.bulkWrite = async (ops) => {
    for (const op of ops) {
      sent.push(op);
      const [dbName, ...rest] = op.namespace.split('.');
      const coll = client.db(dbName!).collection(rest.join('.'));
      const options = { upsert: op.upsert === true };
      if (op.name === 'insertOne') await coll.insertOne!(op.document);
      else if (op.name === 'replaceOne') await coll.replaceOne!(op.filter, op.replacement, options);
      else await coll[op.name]!(op.filter, op.update, options);
    }
    return { insertedCount: ops.length };
  };
  return () => {
    delete client.bulkWrite;
  };
}
