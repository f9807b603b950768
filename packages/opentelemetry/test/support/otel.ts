/**
 * The OpenTelemetry SDK with its in-memory exporters: a `MeterProvider` whose periodic reader
 * (an interval longer than any test) is flushed on demand into an `InMemoryMetricExporter`, and a
 * `BasicTracerProvider` with a `SimpleSpanProcessor` into an `InMemorySpanExporter`.
 */
import type { Attributes, AttributeValue } from '@opentelemetry/api';
import {
  AggregationTemporality,
  type DataPoint,
  type Histogram,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';

/** One exported data point, flattened. */
export interface Point {
  readonly metric: string;
  readonly unit: string;
  readonly attributes: Attributes;
  /** A sum or gauge value; for a histogram, its count. */
  readonly value: number;
  readonly histogram?: Histogram;
}

export interface Otel {
  readonly meterProvider: MeterProvider;
  readonly tracerProvider: BasicTracerProvider;
  /** `{ meterProvider, tracerProvider }`, for `cmekTelemetry`. */
  readonly providers: { meterProvider: MeterProvider; tracerProvider: BasicTracerProvider };
  /** Flushes the reader and returns every data point of the last (cumulative) export. */
  points(): Promise<Point[]>;
  spans(): ReadableSpan[];
  shutdown(): Promise<void>;
}

export function createOtel(): Otel {
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({
    exporter: metricExporter,
    exportIntervalMillis: 3_600_000,
  });
  const meterProvider = new MeterProvider({ readers: [reader] });
  const spanExporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(spanExporter)],
  });
  return {
    meterProvider,
    tracerProvider,
    providers: { meterProvider, tracerProvider },
    async points() {
      metricExporter.reset();
      await reader.forceFlush();
      const out: Point[] = [];
      for (const resource of metricExporter.getMetrics()) {
        for (const scope of resource.scopeMetrics) {
          for (const metric of scope.metrics) {
            for (const point of metric.dataPoints as DataPoint<number | Histogram>[]) {
              const { value } = point;
              out.push({
                metric: metric.descriptor.name,
                unit: metric.descriptor.unit,
                attributes: point.attributes,
                ...(typeof value === 'number'
                  ? { value }
                  : { value: value.count, histogram: value }),
              });
            }
          }
        }
      }
      return out;
    },
    spans: () => spanExporter.getFinishedSpans(),
    async shutdown() {
      await meterProvider.shutdown();
      await tracerProvider.shutdown();
    },
  };
}

/** The data points of one metric whose attributes include `match`. */
export function pointsOf(
  points: readonly Point[],
  metric: string,
  match: Attributes = {},
): Point[] {
  return points.filter(
    (p) => p.metric === metric && Object.entries(match).every(([k, v]) => p.attributes[k] === v),
  );
}

/** The sum of the values of `pointsOf(...)`. */
export function sumOf(points: readonly Point[], metric: string, match: Attributes = {}): number {
  return pointsOf(points, metric, match).reduce((n, p) => n + p.value, 0);
}

function texts(value: AttributeValue | undefined): string[] {
  if (value === undefined || value === null) return [];
  if (Array.isArray(value))
    return value.flatMap((v) => (v === null || v === undefined ? [] : [String(v)]));
  return [String(value)];
}

/**
 * Every string a backend would store: metric names and each attribute key and value of every
 * data point; span names, attribute keys and values, status messages, event names and attributes.
 */
export function exportedStrings(
  points: readonly Point[],
  spans: readonly ReadableSpan[],
): string[] {
  const out: string[] = [];
  const addAttributes = (attributes: Attributes) => {
    for (const [key, value] of Object.entries(attributes)) out.push(key, ...texts(value));
  };
  for (const p of points) {
    out.push(p.metric);
    addAttributes(p.attributes);
  }
  for (const s of spans) {
    out.push(s.name);
    addAttributes(s.attributes);
    if (s.status.message !== undefined) out.push(s.status.message);
    for (const e of s.events) {
      out.push(e.name);
      addAttributes(e.attributes ?? {});
    }
  }
  return out;
}
