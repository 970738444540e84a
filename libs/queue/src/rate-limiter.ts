import { Redis } from 'ioredis';
import { type RedisCircuit, guardedCall, reconnectDelay } from './redis-circuit.js';

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
 * Redis does not answer (the call rejects with QUEUE_UNAVAILABLE within a second, at once while `circuit`
 * knows Redis to be unreachable).
 */
export class RateLimiter {
  private readonly redis: Redis;

  constructor(
    options: { url: string; prefix: string },
    private readonly circuit?: RedisCircuit,
  ) {
    this.redis = new Redis(options.url, {
      keyPrefix: `${options.prefix}:ratelimit:`,
      maxRetriesPerRequest: 1,
      connectTimeout: 2_000,
      lazyConnect: true,
      retryStrategy: reconnectDelay,
    });
    // A failed reconnect tells the circuit (and is not printed as unhandled).
    this.redis.on('error', (e) => this.circuit?.failed(e));
  }

  /** Counts one request of `subject` against `limit` per `windowMs`. */
  async hit(subject: string, limit: number, windowMs: number): Promise<RateDecision> {
    const [count, ttl] = await guardedCall(
      this.circuit,
      'the rate limiter is unavailable',
      DEADLINE_MS,
      () => this.redis.eval(HIT_SCRIPT, 1, subject, windowMs) as Promise<[number, number]>,
    );
    return { allowed: count <= limit, count, retryAfterSeconds: Math.max(1, Math.ceil(ttl / 1000)) };
  }

  close(): Promise<void> {
    this.redis.disconnect();
    return Promise.resolve();
  }
}
