import { Redis } from 'ioredis';
import type { QueueConnection } from './queue.js';

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

/**
 * Publishes JSON messages on one Redis pub/sub channel (API side), on a connection of its own that fails
 * fast like the queue producers': a request must not hang on Redis.
 */
export class ChannelPublisher<T> {
  private readonly redis: Redis;

  constructor(
    connection: QueueConnection,
    private readonly channel: string,
  ) {
    this.redis = new Redis(connection.url, {
      lazyConnect: true,
      maxRetriesPerRequest: 1,
      connectTimeout: 2_000,
    });
    this.redis.on('error', () => undefined);
  }

  /** Resolves with the number of subscribers that received the message; rejects when Redis is unreachable. */
  publish(message: T): Promise<number> {
    return publishWithin(this.redis, this.channel, JSON.stringify(message));
  }

  close(): void {
    this.redis.disconnect();
  }
}
