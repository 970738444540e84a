import { Redis } from 'ioredis';
import type { QueueConnection } from './queue.js';

/** What changed: a version became active, or the states of single rules of a version changed. */
export interface RulesetChange {
  kind: 'activated' | 'rule-states';
  rulesetId: string;
}

/** The pub/sub channel of ruleset changes: under the deployment's prefix, so test runs do not cross. */
export const rulesetChannel = (prefix: string): string => `${prefix}:rulesets:changes`;

const PUBLISH_DEADLINE_MS = 2_000;

/** PUBLISH, rejecting when Redis has not answered within the deadline (a request must not hang on it). */
export async function publishWithin(redis: Redis, channel: string, message: string): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('no answer from Redis')), PUBLISH_DEADLINE_MS);
  });
  const call = redis.publish(channel, message);
  try {
    return await Promise.race([call, deadline]);
  } catch (e) {
    call.catch(() => undefined);
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

function parseChange(message: string): RulesetChange | null {
  try {
    const value = JSON.parse(message) as Partial<RulesetChange>;
    if ((value.kind === 'activated' || value.kind === 'rule-states') && typeof value.rulesetId === 'string') {
      return { kind: value.kind, rulesetId: value.rulesetId };
    }
  } catch {
    // A message that is not ours is ignored below.
  }
  return null;
}

/**
 * Publishes ruleset changes on Redis pub/sub (API side). Pub/sub delivers at most once and only to
 * subscribers connected at that moment, so subscribers also poll the database now and then.
 */
export class RulesetPublisher {
  private readonly redis: Redis;

  constructor(private readonly connection: QueueConnection) {
    // Fail fast, like the queue producers: a request must not hang on Redis.
    this.redis = new Redis(connection.url, {
      lazyConnect: true,
      maxRetriesPerRequest: 1,
      connectTimeout: 2_000,
    });
    this.redis.on('error', () => undefined);
  }

  /** Resolves with the number of subscribers that received the change; rejects when Redis is unreachable. */
  publish(change: RulesetChange): Promise<number> {
    return publishWithin(this.redis, rulesetChannel(this.connection.prefix), JSON.stringify(change));
  }

  close(): void {
    this.redis.disconnect();
  }
}

/**
 * Subscribes to ruleset changes (scanner side). Reconnects by itself after Redis outages; `onReady` runs
 * after every (re)subscription so the caller can catch up on what it missed meanwhile.
 */
export class RulesetSubscriber {
  private readonly redis: Redis;
  private readonly channel: string;

  constructor(
    connection: QueueConnection,
    onChange: (change: RulesetChange) => void,
    onReady: () => void = () => undefined,
  ) {
    const channel = rulesetChannel(connection.prefix);
    this.redis = new Redis(connection.url, { maxRetriesPerRequest: null, lazyConnect: true });
    this.redis.on('error', () => undefined);
    this.redis.on('message', (from: string, message: string) => {
      if (from !== channel) return;
      const change = parseChange(message);
      if (change !== null) onChange(change);
    });
    this.redis.on('ready', onReady);
    this.channel = channel;
  }

  /** Connects and subscribes; ioredis re-subscribes by itself after a reconnect. */
  async start(): Promise<void> {
    await this.redis.connect();
    await this.redis.subscribe(this.channel);
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
