/**
 * The first instant after the millisecond `to` names. Times are stored to the microsecond and shown to the
 * millisecond, so an inclusive upper bound is `< afterMillisecond(to)`: `<= to` missed the very row whose
 * time a caller copied from an answer.
 */
export const afterMillisecond = (to: Date): Date => new Date(to.getTime() + 1);
