import { type DynamicModule, Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { CONFIG, type Config } from '#config';
import { QueueProducer } from './queue.js';

@Global()
@Module({})
export class QueueModule implements OnApplicationShutdown {
  constructor(@Inject(QueueProducer) private readonly producer: QueueProducer) {}

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
      ],
      exports: [QueueProducer],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.producer.close();
  }
}
