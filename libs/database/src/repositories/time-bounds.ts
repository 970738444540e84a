import { LATEST_TIME } from '#contracts';

/**
 * The first instant after the millisecond `to` names. Times are stored to the microsecond and shown to the
 * millisecond, so an inclusive upper bound is `< afterMillisecond(to)`: `<= to` missed the very row whose
 * time a caller copied from an answer. It stays within the year 9999 (LATEST_TIME), which the queries send
 * as text PostgreSQL reads (`+010000-01-01…` was its error, a 500): no stored time is that late.
 */
export const afterMillisecond = (to: Date): Date => new Date(Math.min(to.getTime() + 1, LATEST_TIME));
