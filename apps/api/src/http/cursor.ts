import type { z } from 'zod';
import { SpecimenError } from '#contracts';

/** An opaque page cursor: base64url of a small JSON position. Clients must not build or read it. */
export function encodeCursor(position: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(position), 'utf8').toString('base64url');
}

function invalidCursor(): SpecimenError {
  return new SpecimenError(
    'VALIDATION_FAILED',
    'invalid query: query.cursor: not a cursor this list returned',
    {
      issues: [{ field: 'query.cursor', message: 'not a cursor this list returned' }],
    },
  );
}

/** Decodes a cursor made by {@link encodeCursor}; anything else is a 400 naming `query.cursor`. */
export function decodeCursor<S extends z.ZodType>(schema: S, cursor: string): z.output<S> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalidCursor();
  }
  const result = schema.safeParse(value);
  if (!result.success) throw invalidCursor();
  return result.data;
}
