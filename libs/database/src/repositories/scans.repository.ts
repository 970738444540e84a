import { and, eq, sql } from '../drizzle.js';
import type { AnalysisResult, Verdict } from '#contracts';
import type { Database } from '../database.js';
import { matches, samples, scans } from '../schema.js';
import type { MatchRecord } from './samples.repository.js';

export interface RecordScanInput {
  sha256: string;
  rulesetId: string;
  status: 'scanned' | 'timeout';
  verdict: Verdict;
  startedAt: Date;
  durationMs: number;
  matches: MatchRecord[];
  /** The analyzers' result; its file type is copied to the sample. */
  analysis?: AnalysisResult;
}

export class ScansRepository {
  constructor(private readonly database: Database) {}

  /**
   * One transaction: the scan, its matches, and the sample's verdict. Returns the scan id. The sample takes
   * this scan's verdict unless it already has one from the active ruleset and this scan used another (a
   * scan that started before an activation must not overwrite a verdict of the new version).
   */
  async record(input: RecordScanInput): Promise<string> {
    return this.database.transaction(async (tx) => {
      const [scan] = await tx
        .insert(scans)
        .values({
          sampleSha256: input.sha256,
          rulesetId: input.rulesetId,
          status: input.status,
          verdict: input.verdict,
          startedAt: input.startedAt,
          durationMs: Math.round(input.durationMs),
          analysis: input.analysis ?? null,
        })
        .returning({ id: scans.id });
      if (scan === undefined) throw new Error('insert returned no row');
      if (input.matches.length > 0) {
        await tx.insert(matches).values(input.matches.map((m) => ({ ...m, scanId: scan.id })));
      }
      await tx
        .update(samples)
        .set({
          scanStatus: input.status,
          verdict: input.verdict,
          latestScanId: scan.id,
          ...(input.analysis === undefined ? {} : { fileType: input.analysis.fileType.type }),
        })
        .where(
          and(
            eq(samples.sha256, input.sha256),
            sql`(${samples.latestScanId} is null
              or ${input.rulesetId}::uuid = (select id from rulesets where status = 'active')
              or (select ruleset_id from scans where id = ${samples.latestScanId})
                is distinct from (select id from rulesets where status = 'active'))`,
          ),
        );
      return scan.id;
    });
  }

  /** A scan job that failed for good: the sample shows `failed` and the reason is kept on a scan row. */
  async recordFailure(input: {
    sha256: string;
    rulesetId: string;
    startedAt: Date;
    error: string;
  }): Promise<void> {
    await this.database.transaction(async (tx) => {
      await tx.insert(scans).values({
        sampleSha256: input.sha256,
        rulesetId: input.rulesetId,
        status: 'failed',
        error: input.error.slice(0, 2000),
        startedAt: input.startedAt,
        durationMs: 0,
      });
      await tx.update(samples).set({ scanStatus: 'failed' }).where(eq(samples.sha256, input.sha256));
    });
  }
}
