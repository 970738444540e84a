import type { IncomingMessage } from 'node:http';
import { type CallHandler, type ExecutionContext, Injectable, type NestInterceptor } from '@nestjs/common';
import type { Request, Response } from 'express';
import { json } from 'express';
import type { Observable } from 'rxjs';
import { RULESET_BODY_MAX_BYTES, SpecimenError } from '#contracts';

/** JSON bodies of every other route: small, parsed before any guard runs. */
export const SMALL_JSON_LIMIT_BYTES = 1024 * 1024;

/**
 * Routes whose JSON body may be large (rule sources: signature-base's 5,287 rules are 5.9 MB). The global
 * parser leaves them alone; {@link LargeJsonBody} parses them after the guards, so a caller without a valid
 * token is refused before a byte of a large body is buffered.
 */
const LARGE_JSON_ROUTES = /^\/v1\/(?:rulesets|retrohunts)\/?$/;

export const isLargeJsonRoute = (req: Pick<IncomingMessage, 'method' | 'url'>): boolean =>
  req.method === 'POST' && LARGE_JSON_ROUTES.test((req.url ?? '').split('?', 1)[0] ?? '');

/** The media types the JSON parsers read (`application/json`, with or without parameters). */
export function isJsonRequest(req: Pick<IncomingMessage, 'headers'>): boolean {
  const type = req.headers['content-type'];
  return type !== undefined && type.split(';', 1)[0]?.trim().toLowerCase() === 'application/json';
}

/** The type test of the global JSON parser: JSON, except on the large-body routes. */
export const smallJsonType = (req: IncomingMessage): boolean => isJsonRequest(req) && !isLargeJsonRoute(req);

/** body-parser's errors carry an HTTP status; they become the API's own codes. */
/**
 * The error of a JSON body the parser refused (`status` 413: over `limit`; 400: not JSON, or not an object
 * or array at its top), said the same way on every route; null for any other status.
 */
export function jsonBodyError(status: number, parserMessage: string, limit: number): SpecimenError | null {
  if (status === 413) {
    return new SpecimenError('FILE_TOO_LARGE', `the JSON body exceeds the limit of ${limit} bytes`, {
      limit,
    });
  }
  if (status === 400) {
    return new SpecimenError('VALIDATION_FAILED', 'the body is not a JSON object', {
      issues: [{ field: 'body', message: parserMessage }],
    });
  }
  return null;
}

function asSpecimenError(err: unknown): Error {
  const status = (err as { status?: unknown }).status;
  const parsed =
    typeof status === 'number'
      ? jsonBodyError(status, err instanceof Error ? err.message : String(err), RULESET_BODY_MAX_BYTES)
      : null;
  if (parsed !== null) return parsed;
  if (status === 415) return new SpecimenError('UNSUPPORTED_MEDIA_TYPE', 'the body must be JSON');
  return err instanceof Error ? err : new Error(String(err));
}

const parseLarge = json({ limit: RULESET_BODY_MAX_BYTES, type: isJsonRequest });

/**
 * Parses the JSON body of a large-body route once the guards have let the caller in (Nest runs guards,
 * then interceptors, then the pipes that read `@Body()`). Its errors (413 over the limit, 400 bad JSON)
 * reach the exception filter like any other.
 */
@Injectable()
export class LargeJsonBody implements NestInterceptor {
  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    const http = context.switchToHttp();
    const req = http.getRequest<Request>();
    await new Promise<void>((resolve, reject) => {
      parseLarge(req, http.getResponse<Response>(), (err?: unknown) => {
        if (err === undefined || err === null) resolve();
        else reject(asSpecimenError(err));
      });
    });
    return next.handle();
  }
}
