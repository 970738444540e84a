import { Inject, Injectable } from '@nestjs/common';
import type { LookupSightingsJob } from '#contracts';
import { Batcher, type SightingBatch, SubmissionsRepository } from '#database';

/**
 * Writes the sightings of a hash-first lookup that the API answered from a read: one set-based statement
 * per job (SubmissionsRepository.recordSightings), which drops the sightings of an agent that withdrew its
 * consent since. A failed write is retried by the queue. Delivery is at least once: a job whose statement
 * committed but whose completion never reached Redis (the scanner died in between) is written again when
 * it is retried, counting its sightings twice.
 */
@Injectable()
export class LookupSightingsWriter {
  /**
   * Group commit: the jobs that arrive while a write is in flight go into the next statement together,
   * so the writer keeps up with the lookups the API answers (one job at a time did 2,000–6,000
   * sightings/s against ~27,000 answered). A failed group is retried job by job.
   */
  private readonly batcher: Batcher<SightingBatch, undefined>;

  constructor(@Inject(SubmissionsRepository) submissions: SubmissionsRepository) {
    this.batcher = new Batcher(async (batches) => {
      await submissions.recordSightings(batches);
      return batches.map(() => undefined);
    }, 32);
  }

  async handle(data: LookupSightingsJob): Promise<void> {
    await this.batcher.submit({
      sha256s: data.sha256s,
      submitter: { pseudonym: data.submitter, country: data.country, productVersion: data.productVersion },
      seenAt: data.seenAt,
    });
  }
}
