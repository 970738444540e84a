/**
 * What ioredis and Node say when Redis cannot be reached (as opposed to an error of a command or a job).
 * "max retries per request": ioredis gave up on a command queued while it could not reconnect.
 */
const CONNECTION_FAILURE =
  /QUEUE_UNAVAILABLE|no answer from Redis|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EPIPE|Connection is closed|Stream isn't writeable|max retries per request/;

export function isConnectionFailure(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  const code = (e as { code?: unknown }).code;
  return CONNECTION_FAILURE.test(`${typeof code === 'string' ? code : ''} ${e.message}`);
}

/**
 * One log line per `everyMs` for a connection that keeps failing, instead of one with a stack per reconnect
 * attempt (BullMQ's workers report each: ~100 lines in the first 40 s of an outage). The first failure is
 * said at once, then at most one line per period with how many were left unsaid; other errors always pass.
 */
export class ConnectionErrorThrottle {
  private lastSaid = Number.NEGATIVE_INFINITY;
  private unsaid = 0;

  constructor(
    private readonly everyMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** The line to log for `e` now, or null to stay quiet; `e` is not a connection failure: always a line. */
  line(e: Error): string | null {
    if (!isConnectionFailure(e)) return e.message;
    const t = this.now();
    if (t - this.lastSaid < this.everyMs) {
      this.unsaid += 1;
      return null;
    }
    const more = this.unsaid > 0 ? ` (${this.unsaid} more like it since the last line)` : '';
    this.lastSaid = t;
    this.unsaid = 0;
    return `Redis unreachable, retrying: ${e.message}${more}`;
  }

  /** Whether a failure was said and not yet followed by {@link recovered}. */
  get failing(): boolean {
    return this.lastSaid !== Number.NEGATIVE_INFINITY;
  }

  /**
   * Logs `e` under `what` as a warning: a connection failure as one line a period without its stack (with
   * its cause, for the producer's QUEUE_UNAVAILABLE), anything else with its stack each time.
   */
  warn(logger: { warn(message: unknown, ...rest: unknown[]): void }, e: unknown, what: string): void {
    if (!isConnectionFailure(e)) {
      logger.warn({ err: e }, what);
      return;
    }
    const cause = e instanceof Error && e.cause instanceof Error ? e.cause : e;
    const line = this.line(cause instanceof Error ? cause : (e as Error));
    if (line !== null) logger.warn(`${what}: ${line}`);
  }

  /** Forgets the failures (the connection works again): the next one is said at once. */
  recovered(): void {
    this.lastSaid = Number.NEGATIVE_INFINITY;
    this.unsaid = 0;
  }
}
