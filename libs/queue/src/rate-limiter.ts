import { Redis } from 'ioredis';
import { SpecimenError } from '#contracts';

/** Outcome of one {@link RateLimiter.hit}. */
export interface RateDecision {
  allowed: boolean;
  /** Requests counted in the current window, this one included. */
  count: number;
  /** Seconds until the window ends (at least 1). */
  retryAfterSeconds: number;
}

// A fixed window that opens with the first request: INCR, and start the expiry on the first hit (or if
// a crash ever left the key without one). Atomic in Redis, so every API replica shares one count.
const HIT_SCRIPT = `
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if n == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
`;

const DEADLINE_MS = 1_000;

/**
 * Per-subject request counting in Redis, shared by every API replica. Callers decide what to do when
 * Redis does not answer (the call rejects with QUEUE_UNAVAILABLE within a second).
 */
export class RateLimiter {
  private readonly redis: Redis;

  constructor(options: { url: string; prefix: string }) {
    this.redis = new Redis(options.url, {
      keyPrefix: `${options.prefix}:ratelimit:`,
      maxRetriesPerRequest: 1,
      connectTimeout: 2_000,
      lazyConnect: true,
    });
    // Errors surface on the commands; without a listener ioredis prints them as unhandled.
    this.redis.on('error', () => undefined);
  }

  /** Counts one request of `subject` against `limit` per `windowMs`. */
  async hit(subject: string, limit: number, windowMs: number): Promise<RateDecision> {
    let timer: NodeJS.Timeout | undefined;
    const call = this.redis.eval(HIT_SCRIPT, 1, subject, windowMs) as Promise<[number, number]>;
    try {
      const [count, ttl] = await Promise.race([
        call,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no answer from Redis within ${DEADLINE_MS} ms`)),
            DEADLINE_MS,
          );
        }),
      ]);
      return { allowed: count <= limit, count, retryAfterSeconds: Math.max(1, Math.ceil(ttl / 1000)) };
    } catch (e) {
      call.catch(() => undefined);
      throw new SpecimenError('QUEUE_UNAVAILABLE', 'the rate limiter is unavailable', undefined, {
        cause: e,
      });
    } finally {
      clearTimeout(timer);
    }
  }

  close(): Promise<void> {
    this.redis.disconnect();
    return Promise.resolve();
  }
}
