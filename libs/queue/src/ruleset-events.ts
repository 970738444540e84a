import { Redis } from 'ioredis';
import { ChannelPublisher } from './publisher.js';
import type { QueueConnection } from './queue.js';
import type { RedisCircuit } from './redis-circuit.js';

/** What changed: a version became active, or the states of single rules of a version changed. */
export interface RulesetChange {
  kind: 'activated' | 'rule-states';
  rulesetId: string;
}

/** The pub/sub channel of ruleset changes: under the deployment's prefix, so test runs do not cross. */
export const rulesetChannel = (prefix: string): string => `${prefix}:rulesets:changes`;

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
export class RulesetPublisher extends ChannelPublisher<RulesetChange> {
  constructor(connection: QueueConnection, circuit?: RedisCircuit) {
    super(connection, rulesetChannel(connection.prefix), circuit);
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

  /**
   * Connects and subscribes; ioredis re-subscribes by itself after a reconnect. A Redis down at start is
   * no failure: ioredis keeps trying, and the subscription waits in its offline queue until Redis answers.
   */
  async start(): Promise<void> {
    try {
      await this.redis.connect();
    } catch {
      this.redis.subscribe(this.channel).catch(() => undefined);
      return;
    }
    await this.redis.subscribe(this.channel);
  }

  async close(): Promise<void> {
    // QUIT on a connection that is not up waits in the offline queue until Redis answers: drop it instead.
    if (this.redis.status !== 'ready') {
      this.redis.disconnect();
      return;
    }
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
