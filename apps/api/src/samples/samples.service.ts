import { Inject, Injectable } from '@nestjs/common';
import { FILE_TYPES, type FileType, type SampleView, SpecimenError, isSha256 } from '#contracts';
import { RulesetsRepository, SamplesRepository } from '#database';

@Injectable()
export class SamplesService {
  constructor(
    @Inject(SamplesRepository) private readonly samples: SamplesRepository,
    @Inject(RulesetsRepository) private readonly rulesets: RulesetsRepository,
  ) {}

  async find(sha256: string): Promise<SampleView> {
    if (!isSha256(sha256)) {
      throw new SpecimenError('VALIDATION_FAILED', 'sha256 must be 64 hexadecimal digits', {
        issues: [{ field: 'sha256', message: 'must be 64 hexadecimal digits' }],
      });
    }
    const sample = await this.samples.findBySha256(sha256.toLowerCase());
    if (sample === null) throw new SpecimenError('NOT_FOUND', 'no such sample');
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
      rulesetVersion: scan?.rulesetVersion ?? null,
      scannedAt: scan?.finishedAt.toISOString() ?? null,
      matches: scan?.matches ?? [],
      fileType: FILE_TYPES.includes(sample.fileType as FileType) ? (sample.fileType as FileType) : null,
      analysis: scan?.analysis ?? null,
    };
  }
}
