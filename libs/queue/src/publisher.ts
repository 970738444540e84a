import { Redis } from 'ioredis';
import type { QueueConnection } from './queue.js';
import { type RedisCircuit, guardedCall, reconnectDelay } from './redis-circuit.js';

const PUBLISH_DEADLINE_MS = 2_000;

/**
 * PUBLISH, rejecting (QUEUE_UNAVAILABLE) when Redis has not answered within the deadline (a request must not
 * hang on it), and at once while `circuit` knows Redis to be unreachable.
 */
export function publishWithin(
  redis: Redis,
  channel: string,
  message: string,
  circuit?: RedisCircuit,
): Promise<number> {
  return guardedCall(circuit, 'the message was not published', PUBLISH_DEADLINE_MS, () =>
    redis.publish(channel, message),
  );
}

/**
 * Publishes JSON messages on one Redis pub/sub channel (API side), on a connection of its own that fails
 * fast like the queue producers': a request must not hang on Redis.
 */
export class ChannelPublisher<T> {
  private readonly redis: Redis;

  constructor(
    connection: QueueConnection,
    private readonly channel: string,
    private readonly circuit?: RedisCircuit,
  ) {
    this.redis = new Redis(connection.url, {
      lazyConnect: true,
      maxRetriesPerRequest: 1,
      connectTimeout: 2_000,
      retryStrategy: reconnectDelay,
    });
    this.redis.on('error', (e) => this.circuit?.failed(e));
  }

  /** Resolves with the number of subscribers that received the message; rejects when Redis is unreachable. */
  publish(message: T): Promise<number> {
    return publishWithin(this.redis, this.channel, JSON.stringify(message), this.circuit);
  }

  close(): void {
    this.redis.disconnect();
  }
}
