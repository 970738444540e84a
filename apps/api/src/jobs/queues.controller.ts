import { Controller, Get, Inject } from '@nestjs/common';
import { QueueName, type QueuesView } from '#contracts';
import { QueueProducer } from '#queue';
import { Roles } from '../auth/auth.js';

/** Queue depths, oldest job ages and connected workers: what the console's dashboard shows. */
@Controller('v1/queues')
export class QueuesController {
  constructor(@Inject(QueueProducer) private readonly queue: QueueProducer) {}

  @Get()
  @Roles('analyst', 'admin')
  async list(): Promise<QueuesView> {
    const queues = await Promise.all(
      Object.values(QueueName).map(async (name) => {
        const [states, workers] = await Promise.all([this.queue.stats(name), this.queue.workers(name)]);
        return {
          name,
          workers,
          states: states.map(({ state, depth, oldestAgeSeconds }) => ({ state, depth, oldestAgeSeconds })),
        };
      }),
    );
    return { queues };
  }
}
