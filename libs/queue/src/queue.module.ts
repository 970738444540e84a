import { type DynamicModule, Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { CONFIG, type Config } from '#config';
import { QueueProducer } from './queue.js';
import { RulesetPublisher } from './ruleset-events.js';
import { RateLimiter } from './rate-limiter.js';

@Global()
@Module({})
export class QueueModule implements OnApplicationShutdown {
  constructor(
    @Inject(QueueProducer) private readonly producer: QueueProducer,
    @Inject(RulesetPublisher) private readonly rulesetPublisher: RulesetPublisher,
    @Inject(RateLimiter) private readonly limiter: RateLimiter,
  ) {}

  static forRoot(): DynamicModule {
    return {
      module: QueueModule,
      providers: [
        {
          provide: QueueProducer,
          inject: [CONFIG],
          useFactory: (config: Config) =>
            new QueueProducer(
              { url: config.redis.url, prefix: config.redis.queuePrefix },
              { attempts: config.scanner.attempts },
            ),
        },
        {
          provide: RulesetPublisher,
          inject: [CONFIG],
          useFactory: (config: Config) =>
            new RulesetPublisher({ url: config.redis.url, prefix: config.redis.queuePrefix }),
        },
        {
          provide: RateLimiter,
          inject: [CONFIG],
          useFactory: (config: Config) =>
            new RateLimiter({ url: config.redis.url, prefix: config.redis.queuePrefix }),
        },
      ],
      exports: [QueueProducer, RulesetPublisher, RateLimiter],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    this.rulesetPublisher.close();
    await Promise.all([this.producer.close(), this.limiter.close()]);
  }
}
