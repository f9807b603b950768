/**
 * Spans around KEK calls. With today's core a span is made after the fact from the `kek-call`
 * event: it starts at `now - durationMs`, ends now, and its parent is the context active where
 * the event fired (the caller's, since the event fires in the call's own continuation). Such a
 * span cannot be the parent of the provider SDK's HTTP spans. With the proposed around-hook
 * (`KekCallHook`), the span is started before the call and made active around it.
 */

import type { KekCallEvent } from '@cmek/core';
import {
  type Attributes,
  context,
  SpanKind,
  SpanStatusCode,
  type Tracer,
} from '@opentelemetry/api';
import { nowMs } from './clock';
import type { KekCallHook, KekCallInfo } from './core-shapes';
import { CMEK_ATTRIBUTES as A } from './names';
import { errorTypeOf, outcomeOf } from './outcome';

export function kekSpanName(operation: string): string {
  return `cmek.kek.${operation}`;
}

/** The attributes of a KEK call for its metrics and its span. */
export function kekCallAttributes(
  kek: Attributes,
  operation: string,
  errorCode: string | undefined,
): Attributes {
  const attributes: Attributes = {
    ...kek,
    [A.operation]: operation,
    [A.outcome]: outcomeOf(errorCode),
  };
  if (errorCode !== undefined) attributes[A.errorType] = errorCode;
  return attributes;
}

/** A finished span for a KEK call reported by a `kek-call` event. */
export function spanFromEvent(tracer: Tracer, event: KekCallEvent, attributes: Attributes): void {
  const end = nowMs();
  const span = tracer.startSpan(
    kekSpanName(event.operation),
    {
      kind: SpanKind.CLIENT,
      startTime: end - Math.max(0, event.durationMs),
      attributes: { ...attributes, [A.count]: event.count },
    },
    context.active(),
  );
  if (!event.ok) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: event.errorCode ?? '_OTHER' });
  }
  span.end(end);
}

/** The around-hook: a span started before the call and active while it runs. */
export function spanningHook(
  tracer: Tracer,
  kekOf: (call: KekCallInfo) => Attributes,
): KekCallHook {
  return <T>(call: KekCallInfo, run: () => Promise<T>): Promise<T> =>
    tracer.startActiveSpan(
      kekSpanName(call.operation),
      {
        kind: SpanKind.CLIENT,
        attributes: { ...kekOf(call), [A.operation]: call.operation, [A.count]: call.count },
      },
      async (span) => {
        try {
          const result = await run();
          span.setAttribute(A.outcome, outcomeOf(undefined));
          return result;
        } catch (error) {
          const type = errorTypeOf(error);
          span.setAttributes({
            [A.errorType]: type,
            [A.outcome]: outcomeOf(type === '_OTHER' ? 'CMEK_PROVIDER' : type),
          });
          span.setStatus({ code: SpanStatusCode.ERROR, message: type });
          throw error;
        } finally {
          span.end();
        }
      },
    );
}
