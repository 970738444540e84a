import { type ExecutionContext, createParamDecorator } from '@nestjs/common';
import type { Request } from 'express';
import type { z } from 'zod';
import { SpecimenError } from '#contracts';
import { isJsonRequest } from './large-json.js';

/** Parses `value` with a zod schema; a failure is a 400 VALIDATION_FAILED naming every bad field. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  // An unknown key is named as the field it is (zod reports it on the object that holds it).
  const issues = result.error.issues.flatMap((i) =>
    i.code === 'unrecognized_keys'
      ? i.keys.map((key) => ({
          field: [where, ...i.path.map(String), key].join('.'),
          message: 'unknown field',
        }))
      : [{ field: [where, ...i.path.map(String)].join('.'), message: i.message }],
  );
  throw new SpecimenError(
    'VALIDATION_FAILED',
    // A value that is itself the field (a header, a path parameter) is not named twice.
    `invalid ${where}: ${issues.map((i) => (i.field === where ? i.message : `${i.field}: ${i.message}`)).join('; ')}`,
    { issues },
  );
}

/**
 * The request's JSON body, for `@JsonBody() body: unknown` in place of `@Body()`. A body not sent as
 * `application/json` (curl's `--data` without a header sends it as a form, fetch of a string as text) is
 * refused with 415 UNSUPPORTED_MEDIA_TYPE naming the header, instead of a 400 about missing fields. Runs after the guards, like `@Body()`: an unauthenticated caller still gets 401 first.
 */
export const JsonBody = createParamDecorator((_: unknown, ctx: ExecutionContext): unknown => {
  const req = ctx.switchToHttp().getRequest<Request>();
  const sent =
    req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0';
  if (sent && !isJsonRequest(req)) {
    throw new SpecimenError(
      'UNSUPPORTED_MEDIA_TYPE',
      `the body must be JSON, sent with Content-Type: application/json (got ${req.headers['content-type'] ?? 'none'})`,
    );
  }
  return req.body as unknown;
});
