import { Redis } from 'ioredis';
import type { QueueConnection } from './queue.js';
import { ChannelPublisher } from './publisher.js';

/** What changed about who a bearer token is: one token, or every token of an agent. */
export type PrincipalChange = { tokenId: string } | { agentId: string };

/** The pub/sub channel of principal changes: under the deployment's prefix, so test runs do not cross. */
export const principalChannel = (prefix: string): string => `${prefix}:auth:changes`;

function parseChange(message: string): PrincipalChange | null {
  try {
    const value = JSON.parse(message) as { tokenId?: unknown; agentId?: unknown };
    if (typeof value.tokenId === 'string') return { tokenId: value.tokenId };
    if (typeof value.agentId === 'string') return { agentId: value.agentId };
  } catch {
    // A message that is not ours is ignored below.
  }
  return null;
}

/** Publishes principal changes (token or agent revoked, consent changed) to every API replica. */
export class PrincipalPublisher extends ChannelPublisher<PrincipalChange> {
  constructor(connection: QueueConnection) {
    super(connection, principalChannel(connection.prefix));
  }
}

export interface PrincipalSubscriberHandlers {
  onChange(change: PrincipalChange): void;
  /** Subscribed (again): from now on no change is missed. */
  onListening(): void;
  /** The connection broke or is not up yet: changes may be missed from now until the next onListening. */
  onDeaf(): void;
}

/**
 * Subscribes to principal changes. Pub/sub delivers only to subscribers connected at that moment, so the
 * caller hears when it may have missed some (`onDeaf`) and when it hears everything again (`onListening`,
 * called only once the SUBSCRIBE is answered, not at mere reconnection). Reconnects by itself.
 */
export class PrincipalSubscriber {
  private readonly redis: Redis;
  private readonly channel: string;
  private closing = false;

  constructor(connection: QueueConnection, handlers: PrincipalSubscriberHandlers) {
    this.channel = principalChannel(connection.prefix);
    // Resubscribed by hand on 'ready', so onListening waits for the SUBSCRIBE's answer.
    this.redis = new Redis(connection.url, {
      maxRetriesPerRequest: null,
      lazyConnect: true,
      autoResubscribe: false,
      // Named, so an operator (or a test) can tell these connections apart in CLIENT LIST.
      connectionName: `${connection.prefix}:auth-subscriber`,
    });
    this.redis.on('message', (from: string, message: string) => {
      if (from !== this.channel) return;
      const change = parseChange(message);
      if (change !== null) handlers.onChange(change);
    });
    this.redis.on('error', () => handlers.onDeaf());
    this.redis.on('close', () => handlers.onDeaf());
    this.redis.on('ready', () => {
      this.redis.subscribe(this.channel).then(
        () => {
          if (!this.closing) handlers.onListening();
        },
        () => handlers.onDeaf(),
      );
    });
  }

  /** Starts connecting; does not wait, so the API starts (with every request checked in PostgreSQL) while Redis is down. */
  start(): void {
    this.redis.connect().catch(() => undefined);
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
