import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import { STATUS_CODES } from 'node:http';
import type { Request, Response } from 'express';
import { ERROR_STATUS, type ErrorCode, SpecimenError } from '#contracts';
import { toDatabaseError } from '#database';
import { SMALL_JSON_LIMIT_BYTES, isJsonRequest, jsonBodyError } from './large-json.js';

/**
 * Reason phrases of the statuses Node's HTTP server does not know (it would send `460 unknown`): the tus
 * checksum extension's.
 */
const REASONS: Readonly<Record<number, string>> = { 460: 'Checksum Mismatch' };

/** Maps the status of an HTTP exception raised by the framework itself (unknown route, bad JSON) to a code. */
function codeForStatus(status: number): ErrorCode {
  switch (status) {
    case 400:
      return 'VALIDATION_FAILED';
    case 401:
      return 'UNAUTHENTICATED';
    case 403:
      return 'FORBIDDEN';
    case 404:
      return 'NOT_FOUND';
    case 413:
      return 'FILE_TOO_LARGE';
    case 415:
      return 'UNSUPPORTED_MEDIA_TYPE';
    default:
      return 'INTERNAL';
  }
}

/**
 * The one place errors become HTTP: `{"error":{"code","message","details"}}` and the request id header
 * (set by the logger middleware). A 5xx never carries internals; its stack goes to the log.
 */
/** What a service the API depends on being down answers: logged as one line, without a stack. */
const OUTAGES = new Set<ErrorCode>(['DATABASE_UNAVAILABLE', 'QUEUE_UNAVAILABLE', 'STORAGE_UNAVAILABLE']);

@Catch()
export class SpecimenExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('HTTP');

  catch(thrown: unknown, host: ArgumentsHost): void {
    // A database that cannot be reached is a 503 wherever its error surfaced (the query builder's own
    // calls included), not an internal error.
    const exception = thrown instanceof HttpException ? thrown : toDatabaseError(thrown);
    const ctx = host.switchToHttp();
    const res = ctx.getResponse<Response>();
    const req = ctx.getRequest<Request>();
    let code: ErrorCode;
    let message: string;
    let details: Record<string, unknown> | undefined;
    if (exception instanceof SpecimenError) {
      ({ code, message, details } = exception);
      if (exception.retryAfterSeconds !== undefined)
        res.setHeader('Retry-After', String(exception.retryAfterSeconds));
    } else if (exception instanceof HttpException) {
      // The small-JSON parser's refusals (Nest wraps them) read as those of the rule-source routes.
      const parsed = isJsonRequest(req)
        ? jsonBodyError(exception.getStatus(), exception.message, SMALL_JSON_LIMIT_BYTES)
        : null;
      if (parsed !== null) {
        ({ code, message, details } = parsed);
      } else {
        code = codeForStatus(exception.getStatus());
        message = code === 'INTERNAL' ? 'internal error' : exception.message;
      }
    } else {
      code = 'INTERNAL';
      message = 'internal error';
    }
    const status = ERROR_STATUS[code];
    if (OUTAGES.has(code)) {
      // An outage, not a bug: one line with its cause, no stack, no statement.
      const cause =
        exception instanceof Error && exception.cause instanceof Error ? exception.cause.message : '';
      this.logger.warn(`${code} on ${req.method} ${req.originalUrl}: ${cause}`);
    } else if (status >= 500) {
      const header = res.getHeader('x-request-id');
      const requestId = typeof header === 'string' ? header : '';
      this.logger.error(
        { err: exception, requestId, method: req.method, url: req.originalUrl },
        `${code} on ${req.method} ${req.originalUrl}`,
      );
      if (code === 'INTERNAL') details = { requestId };
    }
    if (res.headersSent) {
      // A stream already started (a download): nothing to send but to cut the connection.
      res.destroy();
      return;
    }
    sendError(res, code, message, details);
  }
}

/** The one shape of an error answer: its status (and reason phrase), `{"error":{"code","message","details"}}`. */
export function sendError(
  res: Response,
  code: ErrorCode,
  message: string,
  details?: Record<string, unknown>,
): void {
  const status = ERROR_STATUS[code];
  if (STATUS_CODES[status] === undefined && REASONS[status] !== undefined)
    res.statusMessage = REASONS[status];
  res.status(status).json({ error: { code, message, ...(details === undefined ? {} : { details }) } });
}
