import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { CONFIG, type Config, pseudonym } from '#config';
import type { Principal } from '#contracts';
import { type ActiveToken, TokensRepository } from '#database';
import { ConnectionErrorThrottle, type PrincipalChange, PrincipalEvents, RedisCircuit } from '#queue';
import { PrincipalCache } from './principal-cache.js';

/** Enough for every agent of a large deployment; an entry is a few hundred bytes. */
const MAX_ENTRIES = 50_000;

/**
 * Who a bearer token is. Known tokens are kept for AUTH_CACHE_MS; every write that changes a principal
 * (agent revoked, consent changed) calls {@link changed} before it answers, which drops the entries here
 * and, over Redis pub/sub, on every other replica, and waits until they have (see PrincipalEvents). A
 * replica that is not subscribed (Redis down, or reconnecting) keeps nothing and asks PostgreSQL every
 * time, so a missed message cannot leave a revoked key working there; AUTH_CACHE_MS only bounds what a
 * replica serves when a publish itself fails.
 */
@Injectable()
export class PrincipalsService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(PrincipalsService.name);
  /** Redis outages: one line a minute, not a stack per revocation or consent change. */
  private readonly redisDown = new ConnectionErrorThrottle();
  private readonly cache: PrincipalCache;
  private readonly events: PrincipalEvents;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(TokensRepository) private readonly tokens: TokensRepository,
    @Inject(RedisCircuit) circuit: RedisCircuit,
  ) {
    this.cache = new PrincipalCache(config.auth.cacheMs, MAX_ENTRIES);
    // Subscribed even with this replica's cache off: it hears there that the others applied its changes.
    this.events = new PrincipalEvents(
      { url: config.redis.url, prefix: config.redis.queuePrefix },
      {
        onChange: (change) => this.cache.invalidate(change),
        onListening: () => this.cache.resume(),
        onDeaf: () => this.cache.suspend(),
      },
      { circuit },
    );
  }

  onApplicationBootstrap(): void {
    this.events.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.events.close();
  }

  /** The principal of an unrevoked token, by its hash; null for an unknown or revoked token. */
  async resolve(tokenHash: string): Promise<Principal | null> {
    // A change made on another replica was applied here before that replica answered its client.
    const cached = this.cache.get(tokenHash);
    if (cached !== undefined) return cached;
    const ticket = this.cache.ticket();
    const record = await this.tokens.findActiveByHash(tokenHash);
    if (record === null) return null;
    // Frozen: the same object serves many requests.
    const principal = Object.freeze(this.principalOf(record));
    this.cache.set(tokenHash, principal, ticket);
    return principal;
  }

  /**
   * Call after a change to a token or agent commits and before answering: drops it here, then tells the
   * other replicas. When Redis does not answer, the change is logged and the others notice within
   * AUTH_CACHE_MS (the write itself has committed; failing the request would not undo it).
   */
  async changed(change: PrincipalChange): Promise<void> {
    this.cache.invalidate(change);
    // Published even with this replica's cache off: the others may have theirs on.
    try {
      const { receivers, applied } = await this.events.publish(change);
      this.redisDown.recovered();
      if (applied < receivers) {
        this.logger.warn(
          `principal change applied by ${applied} of ${receivers} subscribers in time: the others may use the old state for up to ${this.config.auth.cacheMs} ms`,
        );
      }
    } catch (e) {
      this.redisDown.warn(
        this.logger,
        e,
        `principal change not published: other replicas may use the old state for up to ${this.config.auth.cacheMs} ms`,
      );
    }
  }

  private principalOf(record: ActiveToken): Principal {
    const key = this.config.auth.pseudonymKey;
    return {
      tokenId: record.id,
      role: record.role,
      name: record.name,
      ...(record.agentId === null
        ? { pseudonym: pseudonym(key, record.id) }
        : {
            agentId: record.agentId,
            participating: record.participating === true,
            pseudonym: record.agentPseudonym ?? pseudonym(key, record.agentId),
            country: record.country,
            productVersion: record.productVersion,
          }),
    };
  }
}
