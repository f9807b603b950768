/** Engine runs (backfill, verify) over an in-memory row store: run and batch spans, row counters. */
import { randomBytes } from 'node:crypto';
import { type Cursor, createEnvelope, type Row, type RowStore } from '@cmek/core';
import { backfill, verify } from '@cmek/core/engine';
import { createLocalKekProviderFromKey } from '@cmek/provider-local';
import { SpanStatusCode } from '@opentelemetry/api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cmekTelemetry, CMEK_METRICS as M } from '../src/index';
import { createOtel, type Otel, sumOf } from './support/otel';

/** Rows in a Map ordered by numeric id; compare-and-set as the contract says. */
function memoryStore(name: string, values: string[]): RowStore {
  const rows = new Map<number, Record<string, string | null>>(
    values.map((v, i) => [i + 1, { secret: v }]),
  );
  return {
    name,
    fields: ['secret'],
    contextFor: (field) => ({ field: `${name}.${field}` }),
    async scan(after: Cursor | undefined, limit: number): Promise<Row[]> {
      return [...rows.entries()]
        .filter(([id]) => after === undefined || id > Number(after))
        .slice(0, limit)
        .map(([id, v]) => ({ id, values: { ...v } }));
    },
    async compareAndSet(id, field, expected, next) {
      const row = rows.get(Number(id));
      if (row?.[field] !== expected) return false;
      row[field] = next;
      return true;
    },
  };
}

let otel: Otel;
beforeEach(() => {
  otel = createOtel();
});
afterEach(async () => {
  await otel.shutdown();
});

describe('engine progress', () => {
  it('a backfill makes one run span with a child span per batch, and counts rows and writes', async () => {
    const telemetry = cmekTelemetry(otel.providers);
    const env = createEnvelope({
      kek: createLocalKekProviderFromKey(randomBytes(32)),
      onEvent: telemetry.onEvent,
    });
    const store = memoryStore('users', ['a', 'b', 'c', 'd', 'e']);
    const report = await backfill(store, {
      envelope: env,
      batchSize: 2,
      onProgress: telemetry.onProgress,
    });
    expect(report.rows).toBe(5);

    const spans = otel.spans();
    const run = spans.find((s) => s.name === 'cmek.engine.backfill');
    expect(run?.attributes).toMatchObject({
      'cmek.engine.operation': 'backfill',
      'cmek.engine.store': 'users',
      'cmek.engine.run.rows': 5,
      'cmek.engine.run.written': 5,
    });
    const batches = spans.filter((s) => s.name === 'cmek.engine.batch');
    expect(batches.map((b) => b.attributes['cmek.engine.batch.rows'])).toEqual([2, 2, 1]);
    expect(batches.map((b) => b.attributes['cmek.engine.batch.written'])).toEqual([2, 2, 1]);
    expect(
      batches.every(
        (b) =>
          b.parentSpanContext?.spanId === run!.spanContext().spanId &&
          b.spanContext().traceId === run!.spanContext().traceId,
      ),
    ).toBe(true);
    const points = await otel.points();
    expect(
      sumOf(points, M.engineRows.name, {
        'cmek.engine.operation': 'backfill',
        'cmek.engine.store': 'users',
      }),
    ).toBe(5);
    expect(sumOf(points, M.engineWrites.name, { 'cmek.engine.write_result': 'written' })).toBe(5);
    // The backfill's own KEK call went through the envelope's listener.
    expect(sumOf(points, M.kekCalls.name, { 'cmek.kek.operation': 'generateDataKey' })).toBe(1);

    await verify(store, { envelope: env, batchSize: 10, onProgress: telemetry.onProgress });
    const verifySpan = otel.spans().find((s) => s.name === 'cmek.engine.verify');
    expect(verifySpan?.attributes['cmek.engine.run.rows']).toBe(5);
    await env.close();
  });

  it("a newer core's batch duration and failed phase are used when present", () => {
    const telemetry = cmekTelemetry(otel.providers);
    const base = {
      operation: 'rewrap',
      store: 'orders',
      written: 0,
      conflicts: 0,
      cursor: null,
    } as const;
    telemetry.onProgress({ ...base, phase: 'start', rows: 0 });
    telemetry.onProgress({ ...base, phase: 'batch', rows: 3, batchDurationMs: 250 } as never);
    telemetry.onProgress({
      ...base,
      phase: 'failed',
      rows: 3,
      errorCode: 'CMEK_KEK_UNAVAILABLE',
    } as never);
    const spans = otel.spans();
    const batch = spans.find((s) => s.name === 'cmek.engine.batch')!;
    const took =
      (batch.endTime[0] - batch.startTime[0]) * 1e3 + (batch.endTime[1] - batch.startTime[1]) / 1e6;
    expect(took).toBeCloseTo(250, 0);
    const run = spans.find((s) => s.name === 'cmek.engine.rewrap')!;
    expect(run.status.code).toBe(SpanStatusCode.ERROR);
    expect(run.attributes['error.type']).toBe('CMEK_KEK_UNAVAILABLE');
  });
});
