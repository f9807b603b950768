import { PassThrough, Readable } from 'node:stream';
import type { ProgressEvent } from '@cmek/core/engine';
import { afterEach, describe, expect, it, vi } from 'vitest';
import packageJson from '../package.json';
import type { CliIo } from '../src/io';
import { progressFor } from '../src/progress';
import { cmek } from './support/cli';

describe('cmek --version and --help', () => {
  it('--version prints the package version', async () => {
    const result = await cmek(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe(packageJson.version);
  });

  it('each command has examples, its exit codes and --verbose', async () => {
    for (const command of ['keygen', 'backfill', 'rotate', 'verify', 'inspect', 'decrypt']) {
      const help = await cmek([command, '--help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain('Examples:');
      expect(help.stdout).toContain(`$ cmek ${command}`);
      expect(help.stdout).toMatch(/Exit codes:\n {2}0 /);
      expect(help.stdout).toContain('--verbose');
    }
    const backfill = await cmek(['backfill', '--help']);
    expect(backfill.stdout).toMatch(/^ {2}130 {2}interrupted/m);
    expect(backfill.stdout).toContain('--progress-interval <seconds>');
    expect((await cmek(['verify', '--help'])).stdout).toMatch(/^ {2}3 {4}undecryptable/m);
  });
});

describe('progress when stderr is not a terminal', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  const event = (phase: ProgressEvent['phase'], rows: number): ProgressEvent => ({
    operation: 'backfill',
    store: 'users',
    phase,
    rows,
    written: rows,
    conflicts: 1,
    cursor: rows,
  });

  function io(): { io: CliIo; text: () => string } {
    const stderr = new PassThrough();
    let text = '';
    stderr.on('data', (c: Buffer) => (text += c.toString()));
    return {
      io: {
        stdout: new PassThrough(),
        stderr,
        stdin: Readable.from(['']),
        cwd: '/',
        importModule: () => Promise.reject(new Error('unused')),
      },
      text: () => text,
    };
  }

  it('one line per interval with the rows done and the rate; none after the store is done', async () => {
    vi.useFakeTimers();
    const out = io();
    const progress = progressFor(out.io, { json: true, intervalSeconds: 10 });
    progress.listener!(event('start', 0));
    progress.listener!(event('batch', 5_000));
    vi.advanceTimersByTime(10_000);
    progress.listener!(event('batch', 12_000));
    vi.advanceTimersByTime(10_000);
    progress.listener!(event('done', 12_000));
    vi.advanceTimersByTime(30_000);
    progress.stop();
    await Promise.resolve();
    expect(out.text().split('\n').filter(Boolean)).toEqual([
      'cmek: backfill users: 5,000 rows, 500 rows/s, 5,000 written, 1 conflicts, 0:10 elapsed',
      'cmek: backfill users: 12,000 rows, 600 rows/s, 12,000 written, 1 conflicts, 0:20 elapsed',
    ]);
  });

  it('a resumed run counts its rate from where it resumed; 0 turns the lines off', async () => {
    vi.useFakeTimers();
    const out = io();
    const progress = progressFor(out.io, { json: false, intervalSeconds: 5 });
    progress.listener!(event('start', 1_000));
    progress.listener!(event('batch', 2_000));
    vi.advanceTimersByTime(5_000);
    progress.stop();
    expect(out.text()).toBe(
      'cmek: backfill users: 2,000 rows (1,000 before resuming), 200 rows/s, 2,000 written, 1 conflicts, 0:05 elapsed\n',
    );
    expect(progressFor(out.io, { json: false, intervalSeconds: 0 }).listener).toBeUndefined();
  });
});
