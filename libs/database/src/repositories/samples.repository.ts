import { asc, desc, eq } from '../drizzle.js';
import type { AnalysisResult, SampleKind, ScanStatus, Verdict } from '#contracts';
import type { Database } from '../database.js';
import { matches, rulesets, samples, scans, submissions, type StoredStringMatch } from '../schema.js';

export interface MatchRecord {
  rule: string;
  namespace: string;
  tags: string[];
  meta: Record<string, string | number | boolean>;
  strings: StoredStringMatch[];
  /** The rule was marked noisy: recorded, not counted in the verdict. */
  noisy: boolean;
}

export interface SampleRecord {
  sha256: string;
  sha1: string;
  md5: string;
  size: number;
  kind: SampleKind;
  objectKey: string;
  firstSeen: Date;
  lastSeen: Date;
  sightings: number;
  scanStatus: ScanStatus;
  verdict: Verdict | null;
  latestScanId: string | null;
  fileType: string | null;
}

export interface LatestScan {
  id: string;
  rulesetId: string;
  rulesetName: string;
  rulesetVersion: number;
  finishedAt: Date;
  matches: MatchRecord[];
  analysis: AnalysisResult | null;
}

export class SamplesRepository {
  constructor(private readonly database: Database) {}

  async findBySha256(sha256: string): Promise<SampleRecord | null> {
    const [row] = await this.database.db.select().from(samples).where(eq(samples.sha256, sha256)).limit(1);
    return row ?? null;
  }

  /** The scan a sample's verdict comes from, with its matches. */
  async latestScan(sample: SampleRecord): Promise<LatestScan | null> {
    if (sample.latestScanId === null) return null;
    const [scan] = await this.database.db
      .select({
        id: scans.id,
        rulesetId: scans.rulesetId,
        rulesetName: rulesets.name,
        rulesetVersion: rulesets.version,
        finishedAt: scans.finishedAt,
        analysis: scans.analysis,
      })
      .from(scans)
      .innerJoin(rulesets, eq(rulesets.id, scans.rulesetId))
      .where(eq(scans.id, sample.latestScanId))
      .limit(1);
    if (scan === undefined) return null;
    const rows = await this.database.db
      .select({
        rule: matches.rule,
        namespace: matches.namespace,
        tags: matches.tags,
        meta: matches.meta,
        strings: matches.strings,
        noisy: matches.noisy,
      })
      .from(matches)
      .where(eq(matches.scanId, scan.id))
      .orderBy(asc(matches.id));
    return { ...scan, matches: rows };
  }

  /** The metadata document of the sample's latest submission (what the analyzers read), or null. */
  async latestMetadata(sha256: string): Promise<Record<string, unknown> | null> {
    const [row] = await this.database.db
      .select({ metadata: submissions.metadata })
      .from(submissions)
      .where(eq(submissions.sampleSha256, sha256))
      .orderBy(desc(submissions.receivedAt))
      .limit(1);
    return row?.metadata ?? null;
  }
}
