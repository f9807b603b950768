/**
 * Checkpoints: where a backfill or rewrap resumes after a crash. The cursor is saved only after
 * every write of a batch was acknowledged, so a resumed run re-reads at most one batch; the
 * engine's idempotence (encrypted values are skipped, values under the primary are skipped)
 * makes that replay harmless.
 */
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CmekConfigError } from '../errors';
import type { Cursor } from '../row-store';
import type { WriteFieldReport } from './reports';

export interface Checkpoint {
  readonly version: 1;
  readonly operation: 'backfill' | 'rewrap';
  readonly store: string;
  /** The last primary key whose batch was fully written. */
  readonly cursor: Cursor;
  /** Rewrap: `providerId/keyRef` of the target KEK; a checkpoint for another target is ignored. */
  readonly target?: string;
  readonly rows: number;
  readonly batches: number;
  readonly fields: Record<string, WriteFieldReport>;
  readonly updatedAt: string;
}

export interface CheckpointStore {
  load(operation: Checkpoint['operation'], store: string): Promise<Checkpoint | undefined>;
  /** Must be atomic: after a crash the previous or the new checkpoint is there, whole. */
  save(checkpoint: Checkpoint): Promise<void>;
  /** Called when a run completes: the next run starts at the first row again. */
  clear(operation: Checkpoint['operation'], store: string): Promise<void>;
}

function isCheckpoint(value: unknown): value is Checkpoint {
  const c = value as Partial<Checkpoint> | null;
  return (
    typeof c === 'object' &&
    c !== null &&
    c.version === 1 &&
    (typeof c.cursor === 'string' || typeof c.cursor === 'number') &&
    typeof c.rows === 'number' &&
    typeof c.batches === 'number' &&
    typeof c.fields === 'object' &&
    c.fields !== null
  );
}

/**
 * One JSON file per operation and store in `dir` (`<operation>.<store>.json`), written to a
 * temporary file, flushed, then renamed over the previous one.
 */
export function fileCheckpoints(dir: string): CheckpointStore {
  if (typeof dir !== 'string' || dir.length === 0) {
    throw new CmekConfigError('fileCheckpoints needs a directory');
  }
  const pathOf = (operation: string, store: string): string =>
    join(dir, `${operation}.${encodeURIComponent(store)}.json`);
  return {
    async load(operation, store) {
      let text: string;
      try {
        text = await readFile(pathOf(operation, store), 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new CmekConfigError(
          `the checkpoint ${pathOf(operation, store)} is not valid JSON; delete it to start over`,
        );
      }
      if (!isCheckpoint(parsed) || parsed.operation !== operation || parsed.store !== store) {
        throw new CmekConfigError(
          `the checkpoint ${pathOf(operation, store)} is not a cmek checkpoint of ${operation} for '${store}'; delete it to start over`,
        );
      }
      return parsed;
    },
    async save(checkpoint) {
      await mkdir(dir, { recursive: true });
      const path = pathOf(checkpoint.operation, checkpoint.store);
      const temp = `${path}.${process.pid}.tmp`;
      const handle = await open(temp, 'w', 0o600);
      try {
        await handle.writeFile(`${JSON.stringify(checkpoint, null, 2)}\n`, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, path);
    },
    async clear(operation, store) {
      await rm(pathOf(operation, store), { force: true });
    },
  };
}

/** Checkpoints kept in memory (tests, or a caller that persists them itself). */
export function memoryCheckpoints(): CheckpointStore & {
  readonly saved: Map<string, Checkpoint>;
} {
  const saved = new Map<string, Checkpoint>();
  const key = (operation: string, store: string): string => `${operation}\u0000${store}`;
  return {
    saved,
    async load(operation, store) {
      const c = saved.get(key(operation, store));
      return c === undefined ? undefined : structuredClone(c);
    },
    async save(checkpoint) {
      saved.set(key(checkpoint.operation, checkpoint.store), structuredClone(checkpoint));
    },
    async clear(operation, store) {
      saved.delete(key(operation, store));
    },
  };
}
