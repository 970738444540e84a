import { z } from 'zod';

/**
 * A whole number in a query string: decimal digits only. Coercion alone took "" as 0, "0x16" as 22 and
 * "1e2" as 100. The default goes inside, so OpenAPI still shows the type, its bounds and the default.
 */
export function queryInt(min: number, max: number, fallback?: number) {
  const number = z.coerce.number().int().min(min).max(max);
  return z.preprocess(
    (value, ctx) => {
      // `?limit=2&limit=3` comes as an array, which coercion made NaN ("expected number, received NaN").
      if (Array.isArray(value)) {
        ctx.addIssue({ code: 'custom', message: 'must be given once', input: value });
        return z.NEVER;
      }
      if (typeof value !== 'string') return value;
      if (!/^\d+$/.test(value)) {
        ctx.addIssue({ code: 'custom', message: 'must be a whole number in decimal digits', input: value });
        return z.NEVER;
      }
      // Past the bound, said once and as the bound (a long number also failed the integer check).
      if (Number(value) > max) {
        ctx.addIssue({ code: 'custom', message: `must be at most ${max}`, input: value });
        return z.NEVER;
      }
      return value;
    },
    fallback === undefined ? number : number.default(fallback),
  );
}
