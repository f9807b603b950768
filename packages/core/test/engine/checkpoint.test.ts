import { mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Checkpoint, fileCheckpoints } from '../../src/engine/index';
import { CmekConfigError } from '../../src/index';

const sample: Checkpoint = {
  version: 1,
  operation: 'backfill',
  store: 'app/users',
  cursor: 42,
  rows: 42,
  batches: 1,
  fields: {},
  updatedAt: '2026-01-01T00:00:00.000Z',
};

describe('fileCheckpoints', () => {
  it('saves atomically, loads, and clears one file per operation and store', async () => {
    const dir = join(await mkdtemp(join(tmpdir(), 'cmek-cp-')), 'nested');
    const store = fileCheckpoints(dir);
    expect(await store.load('backfill', 'app/users')).toBeUndefined();
    await store.save(sample);
    await store.save({ ...sample, cursor: 84 });
    expect(await readdir(dir)).toEqual(['backfill.app%2Fusers.json']);
    expect((await stat(join(dir, 'backfill.app%2Fusers.json'))).mode & 0o077).toBe(0);
    expect(await store.load('backfill', 'app/users')).toMatchObject({ cursor: 84 });
    expect(await store.load('rewrap', 'app/users')).toBeUndefined();
    await store.clear('backfill', 'app/users');
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses a file that is not a checkpoint of this operation and store', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cmek-cp-'));
    const store = fileCheckpoints(dir);
    await writeFile(join(dir, 'backfill.users.json'), '{ not json');
    await expect(store.load('backfill', 'users')).rejects.toBeInstanceOf(CmekConfigError);
    await writeFile(join(dir, 'backfill.users.json'), JSON.stringify({ ...sample, store: 'x' }));
    await expect(store.load('backfill', 'users')).rejects.toBeInstanceOf(CmekConfigError);
    expect(JSON.parse(await readFile(join(dir, 'backfill.users.json'), 'utf8')).store).toBe('x');
  });
});
