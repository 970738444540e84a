import type { z } from 'zod';
import { SpecimenError } from '#contracts';

/** Parses `value` with a zod schema; a failure is a 400 VALIDATION_FAILED naming every bad field. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => ({
    field: [where, ...i.path.map(String)].join('.'),
    message: i.message,
  }));
  throw new SpecimenError(
    'VALIDATION_FAILED',
    `invalid ${where}: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`,
    { issues },
  );
}
