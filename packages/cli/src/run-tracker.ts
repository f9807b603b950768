/**
 * What a `backfill` / `rotate` run has done so far, per store, for the report printed when it
 * fails or is stopped: the engine's checkpoints (loaded, saved after each batch, cleared) and its
 * progress events. Counts come from the last checkpoint, so they cover whole batches; a batch in
 * flight when a write failed may be partly written, which the next run skips.
 */
import { join } from 'node:path';
import type { Cursor } from '@cmek/core';
import type {
  Checkpoint,
  CheckpointStore,
  ProgressEvent,
  WriteFieldReport,
  WriteReport,
} from '@cmek/core/engine';

export interface CheckpointRef {
  /** The checkpoint file: a run of the same command resumes after `cursor`. */
  readonly path: string;
  readonly cursor: Cursor;
}

/** A store whose run did not end: the command failed in it, or was forced to quit. */
export interface UnfinishedWriteReport {
  readonly operation: 'backfill' | 'rewrap';
  readonly store: string;
  /** The tenant of a run scoped to one (`--tenant`). */
  readonly tenant?: string;
  readonly dryRun: boolean;
  readonly status: 'failed' | 'interrupted';
  readonly resumedFrom: Cursor | null;
  readonly cursor: Cursor | null;
  readonly rows: number;
  readonly batches: number;
  readonly durationMs: number;
  /** The counts of the batches done (the last checkpoint); `null` in a dry run (no checkpoint). */
  readonly fields: Record<string, WriteFieldReport> | null;
  readonly checkpoint: CheckpointRef | null;
}

export type StoreWriteReport =
  | (WriteReport & { checkpoint: CheckpointRef | null })
  | UnfinishedWriteReport;

interface Track {
  loaded?: Checkpoint;
  saved?: Checkpoint;
  cleared: boolean;
  progress?: ProgressEvent;
  readonly started: number;
}

export class RunTracker {
  private readonly tracks = new Map<string, Track>();

  /**
   * `tenant`: the tenant of a run scoped to one (`--tenant`): its checkpoints are its own
   * (`<operation>.<store>@<tenant>.json`), loaded and cleared with the tenant.
   */
  constructor(
    private readonly dir: string,
    private readonly inner: CheckpointStore,
    private readonly tenant?: string,
  ) {}

  private track(store: string): Track {
    let track = this.tracks.get(store);
    if (track === undefined) {
      track = { cleared: false, started: performance.now() };
      this.tracks.set(store, track);
    }
    return track;
  }

  /** The checkpoint store to give the engine: the file store, observed. */
  readonly checkpoints: CheckpointStore = {
    load: async (operation, store, tenant) => {
      const loaded = await this.inner.load(operation, store, tenant);
      const track = this.track(store);
      if (loaded !== undefined) {
        track.loaded = loaded;
        track.cleared = false;
      }
      return loaded;
    },
    save: async (checkpoint) => {
      await this.inner.save(checkpoint);
      const track = this.track(checkpoint.store);
      track.saved = checkpoint;
      track.cleared = false;
    },
    clear: async (operation, store, tenant) => {
      await this.inner.clear(operation, store, tenant);
      const track = this.track(store);
      track.cleared = true;
      delete track.loaded;
      delete track.saved;
    },
  };

  onProgress(event: ProgressEvent): void {
    this.track(event.store).progress = event;
  }

  pathOf(operation: 'backfill' | 'rewrap', store: string): string {
    // The file name `fileCheckpoints` uses.
    const tenant = this.tenant === undefined ? '' : `@${encodeURIComponent(this.tenant)}`;
    return join(this.dir, `${operation}.${encodeURIComponent(store)}${tenant}.json`);
  }

  /** The checkpoint the store has on disk now, if any. */
  checkpointOf(operation: 'backfill' | 'rewrap', store: string): CheckpointRef | null {
    const track = this.tracks.get(store);
    const saved = track?.saved ?? track?.loaded;
    if (track === undefined || track.cleared || saved === undefined) return null;
    return { path: this.pathOf(operation, store), cursor: saved.cursor };
  }

  unfinished(
    operation: 'backfill' | 'rewrap',
    store: string,
    dryRun: boolean,
    status: UnfinishedWriteReport['status'],
  ): UnfinishedWriteReport {
    const track = this.track(store);
    const last = track.saved ?? track.loaded;
    return {
      operation,
      store,
      ...(this.tenant === undefined ? {} : { tenant: this.tenant }),
      dryRun,
      status,
      resumedFrom: track.loaded?.cursor ?? null,
      cursor: last?.cursor ?? track.progress?.cursor ?? null,
      rows: last?.rows ?? track.progress?.rows ?? 0,
      batches: last?.batches ?? 0,
      durationMs: Math.round(performance.now() - track.started),
      fields: last?.fields ?? null,
      checkpoint: this.checkpointOf(operation, store),
    };
  }
}
