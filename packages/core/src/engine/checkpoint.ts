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
  /**
   * The tenant of a run scoped to one (`{ tenant }`): a checkpoint of another tenant (or of a
   * whole-store run) is ignored, so a resume never continues another tenant's run.
   */
  readonly tenant?: string;
  readonly rows: number;
  readonly batches: number;
  readonly fields: Record<string, WriteFieldReport>;
  readonly updatedAt: string;
}

/**
 * Where checkpoints are kept, one per operation, store and tenant: a run scoped to a tenant
 * passes it (`tenant`; `undefined` for a whole-store run), and a store keeps each tenant's apart
 * so that runs of two tenants resume independently. (A store that ignores `tenant` still works:
 * the engine ignores a checkpoint whose `tenant` is not the run's.)
 */
export interface CheckpointStore {
  load(
    operation: Checkpoint['operation'],
    store: string,
    tenant?: string,
  ): Promise<Checkpoint | undefined>;
  /** Must be atomic: after a crash the previous or the new checkpoint is there, whole. */
  save(checkpoint: Checkpoint): Promise<void>;
  /** Called when a run completes: the next run starts at the first row again. */
  clear(operation: Checkpoint['operation'], store: string, tenant?: string): Promise<void>;
}

function isCheckpoint(value: unknown): value is Checkpoint {
  const c = value as Partial<Checkpoint> | null;
  return (
    typeof c === 'object' &&
    c !== null &&
    c.version === 1 &&
    (typeof c.cursor === 'string' || typeof c.cursor === 'number') &&
    (c.tenant === undefined || typeof c.tenant === 'string') &&
    typeof c.rows === 'number' &&
    typeof c.batches === 'number' &&
    typeof c.fields === 'object' &&
    c.fields !== null
  );
}

/**
 * One JSON file per operation and store in `dir` (`<operation>.<store>.json`, and
 * `<operation>.<store>@<tenant>.json` for a tenant's run; names URI-encoded), written to a
 * temporary file, flushed, then renamed over the previous one.
 */
export function fileCheckpoints(dir: string): CheckpointStore {
  if (typeof dir !== 'string' || dir.length === 0) {
    throw new CmekConfigError('fileCheckpoints needs a directory');
  }
  const pathOf = (operation: string, store: string, tenant?: string): string =>
    join(
      dir,
      `${operation}.${encodeURIComponent(store)}${tenant === undefined ? '' : `@${encodeURIComponent(tenant)}`}.json`,
    );
  return {
    async load(operation, store, tenant) {
      const path = pathOf(operation, store, tenant);
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new CmekConfigError(
          `the checkpoint ${path} is not valid JSON; delete it to start over`,
        );
      }
      if (
        !isCheckpoint(parsed) ||
        parsed.operation !== operation ||
        parsed.store !== store ||
        parsed.tenant !== tenant
      ) {
        throw new CmekConfigError(
          `the checkpoint ${path} is not a cmek checkpoint of ${operation} for '${store}'${tenant === undefined ? '' : ` and tenant '${tenant}'`}; delete it to start over`,
        );
      }
      return parsed;
    },
    async save(checkpoint) {
      await mkdir(dir, { recursive: true });
      const path = pathOf(checkpoint.operation, checkpoint.store, checkpoint.tenant);
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
    async clear(operation, store, tenant) {
      await rm(pathOf(operation, store, tenant), { force: true });
    },
  };
}

/** Checkpoints kept in memory (tests, or a caller that persists them itself). */
export function memoryCheckpoints(): CheckpointStore & {
  readonly saved: Map<string, Checkpoint>;
} {
  const saved = new Map<string, Checkpoint>();
  const key = (operation: string, store: string, tenant?: string): string =>
    `${operation}\u0000${store}${tenant === undefined ? '' : `\u0000${tenant}`}`;
  return {
    saved,
    async load(operation, store, tenant) {
      const c = saved.get(key(operation, store, tenant));
      return c === undefined ? undefined : structuredClone(c);
    },
    async save(checkpoint) {
      saved.set(
        key(checkpoint.operation, checkpoint.store, checkpoint.tenant),
        structuredClone(checkpoint),
      );
    },
    async clear(operation, store, tenant) {
      saved.delete(key(operation, store, tenant));
    },
  };
}
