import { Inject, Injectable } from '@nestjs/common';
import type { LookupSightingsJob } from '#contracts';
import { SubmissionsRepository } from '#database';

/**
 * Writes the sightings of a hash-first lookup that the API answered from a read: one set-based statement
 * per job (SubmissionsRepository.recordSightings), which drops the sightings of an agent that withdrew its
 * consent since. A failed write is retried by the queue. Delivery is at least once: a job whose statement
 * committed but whose completion never reached Redis (the scanner died in between) is written again when
 * it is retried, counting its sightings twice.
 */
@Injectable()
export class LookupSightingsWriter {
  constructor(@Inject(SubmissionsRepository) private readonly submissions: SubmissionsRepository) {}

  async handle(data: LookupSightingsJob): Promise<{ written: number }> {
    const written = await this.submissions.recordSightings([
      {
        sha256s: data.sha256s,
        submitter: { pseudonym: data.submitter, country: data.country, productVersion: data.productVersion },
        seenAt: data.seenAt,
      },
    ]);
    return { written };
  }
}
