import {
  type DynamicModule,
  Global,
  Inject,
  Logger,
  Module,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { CONFIG, type Config } from '#config';
import { QueueProducer } from './queue.js';
import { RulesetPublisher } from './ruleset-events.js';
import { RateLimiter } from './rate-limiter.js';
import { REDIS_RETRY_EVERY_MS, RedisCircuit } from './redis-circuit.js';

@Global()
@Module({})
export class QueueModule implements OnApplicationShutdown {
  constructor(
    @Inject(RedisCircuit) private readonly circuit: RedisCircuit,
    @Inject(QueueProducer) private readonly producer: QueueProducer,
    @Inject(RulesetPublisher) private readonly rulesetPublisher: RulesetPublisher,
    @Inject(RateLimiter) private readonly limiter: RateLimiter,
  ) {}

  static forRoot(): DynamicModule {
    const connection = (config: Config) => ({ url: config.redis.url, prefix: config.redis.queuePrefix });
    return {
      module: QueueModule,
      providers: [
        {
          // One for the whole process: what one Redis user finds out, the others need not wait for.
          provide: RedisCircuit,
          inject: [CONFIG],
          useFactory: (config: Config) => {
            const logger = new Logger('Redis');
            return RedisCircuit.forUrl(config.redis.url, {
              onOpen: (failure) =>
                logger.warn(
                  `Redis unreachable (${failure.message}): its users take their no-Redis path at once until it answers again (checked every ${REDIS_RETRY_EVERY_MS / 1000} s)`,
                ),
              onClose: (downForMs) =>
                logger.log(`Redis reachable again (unreachable for ${(downForMs / 1000).toFixed(1)} s)`),
            });
          },
        },
        {
          provide: QueueProducer,
          inject: [CONFIG, RedisCircuit],
          useFactory: (config: Config, circuit: RedisCircuit) =>
            new QueueProducer(connection(config), circuit, { attempts: config.scanner.attempts }),
        },
        {
          provide: RulesetPublisher,
          inject: [CONFIG, RedisCircuit],
          useFactory: (config: Config, circuit: RedisCircuit) =>
            new RulesetPublisher(connection(config), circuit),
        },
        {
          provide: RateLimiter,
          inject: [CONFIG, RedisCircuit],
          useFactory: (config: Config, circuit: RedisCircuit) => new RateLimiter(connection(config), circuit),
        },
      ],
      exports: [RedisCircuit, QueueProducer, RulesetPublisher, RateLimiter],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    this.circuit.stop();
    this.rulesetPublisher.close();
    await Promise.all([this.producer.close(), this.limiter.close()]);
  }
}
