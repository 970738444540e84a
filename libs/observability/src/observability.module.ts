import { type DynamicModule, Global, Module } from '@nestjs/common';
import { CONFIG, type Config } from '#config';
import { QueueName } from '#contracts';
import { QueueProducer } from '#queue';
import { type MetricsApp, SpecimenMetrics } from './metrics.js';

/** Provides the process's {@link SpecimenMetrics}, with the queue gauges read through the producer. */
@Global()
@Module({})
export class ObservabilityModule {
  static forRoot(app: MetricsApp): DynamicModule {
    return {
      module: ObservabilityModule,
      providers: [
        {
          provide: SpecimenMetrics,
          inject: [CONFIG, QueueProducer],
          useFactory: (config: Config, queue: QueueProducer) => {
            const metrics = new SpecimenMetrics(app);
            metrics.observeQueues(
              async () =>
                (await Promise.all(Object.values(QueueName).map((name) => queue.stats(name)))).flat(),
              config.observability.queueStatsCacheMs,
            );
            return metrics;
          },
        },
      ],
      exports: [SpecimenMetrics],
    };
  }
}
