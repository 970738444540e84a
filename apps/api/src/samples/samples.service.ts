import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  FILE_TYPES,
  type FileType,
  JobName,
  type Principal,
  QueueName,
  type RescanQueued,
  type SampleView,
  SpecimenError,
  isSha256,
} from '#contracts';
import { AuditRepository, Database, OutboxRepository, SamplesRepository, type SampleRecord } from '#database';
import { QueueProducer, scanJobId } from '#queue';

@Injectable()
export class SamplesService {
  private readonly logger = new Logger(SamplesService.name);

  constructor(
    @Inject(Database) private readonly database: Database,
    @Inject(SamplesRepository) private readonly samples: SamplesRepository,
    @Inject(OutboxRepository) private readonly outbox: OutboxRepository,
    @Inject(AuditRepository) private readonly audit: AuditRepository,
    @Inject(QueueProducer) private readonly queue: QueueProducer,
  ) {}

  private async sample(sha256: string): Promise<SampleRecord> {
    if (!isSha256(sha256)) {
      throw new SpecimenError('VALIDATION_FAILED', 'sha256 must be 64 hexadecimal digits', {
        issues: [{ field: 'sha256', message: 'must be 64 hexadecimal digits' }],
      });
    }
    const sample = await this.samples.findBySha256(sha256.toLowerCase());
    if (sample === null) throw new SpecimenError('NOT_FOUND', 'no such sample');
    return sample;
  }

  /**
   * Queues a new scan with the active ruleset; its verdict replaces the sample's. Each request is its own
   * job (the id names the request time), committed to the outbox first like an ingest scan.
   */
  async rescan(sha256: string, principal: Principal): Promise<RescanQueued> {
    const sample = await this.sample(sha256);
    const jobId = scanJobId(sample.sha256, `rescan-${Date.now()}`);
    const item = {
      queue: QueueName.Scan,
      name: JobName.ScanSample,
      data: { sha256: sample.sha256 },
    } as const;
    const outboxId = await this.database.transaction(async (tx) => {
      const id = await this.outbox.add({ queue: item.queue, name: item.name, jobId, payload: item.data }, tx);
      await this.audit.append(
        {
          actorId: principal.tokenId,
          actorName: principal.name,
          action: 'sample.rescan',
          targetType: 'sample',
          targetId: sample.sha256,
          details: { jobId },
        },
        tx,
      );
      return id;
    });
    try {
      await this.queue.add(item, jobId);
      await this.outbox.remove(outboxId);
    } catch (e) {
      this.logger.warn({ err: e, sha256: sample.sha256 }, 'rescan job left in the outbox for re-drive');
    }
    return { sha256: sample.sha256, jobId };
  }

  async find(sha256: string): Promise<SampleView> {
    const sample = await this.sample(sha256);
    const scan = await this.samples.latestScan(sample);
    return {
      sha256: sample.sha256,
      sha1: sample.sha1,
      md5: sample.md5,
      size: sample.size,
      kind: sample.kind,
      firstSeen: sample.firstSeen.toISOString(),
      lastSeen: sample.lastSeen.toISOString(),
      sightings: sample.sightings,
      scanStatus: sample.scanStatus,
      verdict: sample.verdict,
      rulesetId: scan?.rulesetId ?? null,
      rulesetName: scan?.rulesetName ?? null,
      rulesetVersion: scan?.rulesetVersion ?? null,
      scannedAt: scan?.finishedAt.toISOString() ?? null,
      matches: scan?.matches ?? [],
      fileType: FILE_TYPES.includes(sample.fileType as FileType) ? (sample.fileType as FileType) : null,
      analysis: scan?.analysis ?? null,
    };
  }
}
