import { randomUUID } from 'node:crypto';
import { eq, sql } from '../drizzle.js';
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
  /** When the scan ended; the time of the write by default. */
  finishedAt?: Date;
}

/** Rows per insert into `matches` (7 parameters each: well under PostgreSQL's 65,535 per statement). */
const MATCH_ROWS_PER_INSERT = 5000;

/**
 * Splits a batch, in order, into runs in which no sample appears twice: one UPDATE cannot apply two
 * rows to the same sample in order, so a repeated sample starts the next run.
 */
function withoutRepeatedSamples<T extends { sha256: string }>(rows: readonly T[]): T[][] {
  const groups: T[][] = [];
  let current: T[] = [];
  let seen = new Set<string>();
  for (const row of rows) {
    if (seen.has(row.sha256)) {
      groups.push(current);
      current = [];
      seen = new Set();
    }
    seen.add(row.sha256);
    current.push(row);
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

export class ScansRepository {
  constructor(private readonly database: Database) {}

  /**
   * One transaction: the scan, its matches, and the sample's verdict. Returns the scan id. The sample takes
   * this scan's verdict unless it already has one from the active ruleset and this scan used another (a
   * scan that started before an activation must not overwrite a verdict of the new version).
   */
  async record(input: RecordScanInput): Promise<string> {
    const [id] = await this.recordMany([input]);
    if (id === undefined) throw new Error('recordMany returned no id');
    return id;
  }

  /**
   * {@link record} for many scans in one transaction and a few statements (multi-row inserts, one update
   * joined to a VALUES list), so a busy scanner pays one commit and a handful of round trips per batch
   * instead of five per scan. Scans of the same sample apply in the given order, as separate
   * {@link record} calls would. Returns the scan ids in input order; all or nothing.
   */
  async recordMany(inputs: readonly RecordScanInput[]): Promise<string[]> {
    const rows = inputs.map((input) => ({ ...input, id: randomUUID() }));
    if (rows.length === 0) return [];
    await this.database.transaction(async (tx) => {
      for (const group of withoutRepeatedSamples(rows)) {
        await tx.insert(scans).values(
          group.map((r) => ({
            id: r.id,
            sampleSha256: r.sha256,
            rulesetId: r.rulesetId,
            status: r.status,
            verdict: r.verdict,
            startedAt: r.startedAt,
            finishedAt: r.finishedAt ?? new Date(),
            durationMs: Math.round(r.durationMs),
            analysis: r.analysis ?? null,
          })),
        );
        const matchRows = group.flatMap((r) => r.matches.map((m) => ({ ...m, scanId: r.id })));
        for (let i = 0; i < matchRows.length; i += MATCH_ROWS_PER_INSERT) {
          await tx.insert(matches).values(matchRows.slice(i, i + MATCH_ROWS_PER_INSERT));
        }
        // sha256 as bpchar, the column's type: a text value would compare as text and miss the primary key.
        const values = sql.join(
          group.map(
            (r) =>
              sql`(${r.sha256}::bpchar, ${r.status}, ${r.verdict}, ${r.id}::uuid, ${r.rulesetId}::uuid, ${r.analysis?.fileType.type ?? null})`,
          ),
          sql`, `,
        );
        await tx.execute(sql`
          update samples set
            scan_status = v.status,
            verdict = v.verdict,
            latest_scan_id = v.scan_id,
            file_type = coalesce(v.file_type, samples.file_type)
          from (values ${values}) as v(sha256, status, verdict, scan_id, ruleset_id, file_type)
          where samples.sha256 = v.sha256
            and (samples.latest_scan_id is null
              or v.ruleset_id = (select id from rulesets where status = 'active')
              or (select ruleset_id from scans where id = samples.latest_scan_id)
                is distinct from (select id from rulesets where status = 'active'))`);
      }
    });
    return rows.map((r) => r.id);
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
