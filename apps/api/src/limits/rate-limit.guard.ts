import { type CanActivate, type ExecutionContext, Inject, Injectable, Logger } from '@nestjs/common';
import type { Request } from 'express';
import { CONFIG, type Config } from '#config';
import { SpecimenError } from '#contracts';
import { RateLimiter, ConnectionErrorThrottle } from '#queue';

const MINUTE_MS = 60_000;

/**
 * Per-agent request limit, counted in Redis by agent id (never by IP) so it holds across API replicas.
 * Runs after authentication and before any interceptor reads the body. People's tokens are not limited.
 * When Redis does not answer the request goes through: ingest already survives Redis outages through
 * the outbox, and refusing every agent because the counter is unreachable would be worse.
 */
@Injectable()
export class RateLimitGuard implements CanActivate {
  private readonly logger = new Logger(RateLimitGuard.name);
  /** Redis outages: one line a minute, not a stack per request. */
  private readonly redisDown = new ConnectionErrorThrottle();
  private readonly limit: number;

  constructor(
    @Inject(CONFIG) config: Config,
    @Inject(RateLimiter) private readonly limiter: RateLimiter,
  ) {
    this.limit = config.limits.ratePerMinute;
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const refusal = await this.check(context.switchToHttp().getRequest<Request>());
    if (refusal !== null) throw refusal;
    return true;
  }

  /**
   * Counts the request against its agent's limit: the error to answer when it is over, else null. For
   * a handler that decides itself whether to refuse (a consent withdrawal is never refused).
   */
  async check(req: Request): Promise<SpecimenError | null> {
    const principal = req.principal;
    if (principal?.agentId === undefined) return null;
    let decision;
    try {
      // Keyed by the agent's pseudonym: Redis holds no agent id either.
      decision = await this.limiter.hit(`agent:${principal.pseudonym}`, this.limit, MINUTE_MS);
      this.redisDown.recovered();
    } catch (e) {
      this.redisDown.warn(this.logger, e, 'rate limit not checked: Redis did not answer');
      return null;
    }
    if (decision.allowed) return null;
    return new SpecimenError(
      'RATE_LIMITED',
      `more than ${this.limit} requests a minute from this agent`,
      { limit: this.limit, retryAfterSeconds: decision.retryAfterSeconds },
      { retryAfterSeconds: decision.retryAfterSeconds },
    );
  }
}
