/**
 * Errors to HTTP responses. A `CmekError` becomes a 500 with its stable code only; a client
 * error gets the message this app wrote. Nothing logged or returned holds a request body or a
 * token: the log line is the method, the path (ids only, no query string) and a code or name.
 */
import { CmekError } from '@cmek/core';
import type { ErrorRequestHandler } from 'express';

/** An error whose message was written by this app for the client (never holds a value). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** The errors of `express.json()` (body-parser): their message may quote the body, so not used. */
function bodyParserStatus(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { status, type } = error as { status?: unknown; type?: unknown };
  return typeof status === 'number' && typeof type === 'string' && status >= 400 && status < 500
    ? status
    : undefined;
}

export const errorHandler: ErrorRequestHandler = (error: unknown, req, res, _next) => {
  if (error instanceof HttpError) {
    res.status(error.status).json({ error: error.message });
    return;
  }
  const clientStatus = bodyParserStatus(error);
  if (clientStatus !== undefined) {
    const message = clientStatus === 413 ? 'the body is too large' : 'the body must be valid JSON';
    res.status(clientStatus).json({ error: message });
    return;
  }
  const code = CmekError.isInstance(error)
    ? error.code
    : error instanceof Error
      ? error.name
      : 'unknown';
  console.error(`${req.method} ${req.path} failed: ${code}`);
  res.status(500).json({ error: CmekError.isInstance(error) ? error.code : 'internal error' });
};
