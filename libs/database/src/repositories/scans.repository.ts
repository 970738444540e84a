import { uuidV7 } from '../uuid7.js';
import { eq } from '../drizzle.js';
import type { AnalysisResult, Verdict } from '#contracts';
import type { Database } from '../database.js';
import { samples, scans } from '../schema.js';
import type { MatchRecord } from './samples.repository.js';

export interface RecordScanInput {
  sha256: string;
  rulesetId: string;
  status: 'scanned' | 'timeout';
  /**
   * None for a scan that timed out: libyara reports no match then (the sample keeps the verdict it has, see
   * KEEPS_VERDICT).
   */
  verdict: Verdict | null;
  startedAt: Date;
  durationMs: number;
  matches: MatchRecord[];
  /** The analyzers' result; its file type is copied to the sample. */
  analysis?: AnalysisResult;
  /** When the scan ended; the time of the write by default. */
  finishedAt?: Date;
}

const INSERT_SCANS = `
  insert into scans (id, sample_sha256, ruleset_id, status, verdict, started_at, finished_at, duration_ms, analysis)
  select x.id, x.sample_sha256, x.ruleset_id, x.status, x.verdict, x.started_at, x.finished_at, x.duration_ms,
    x.analysis
  from jsonb_to_recordset($1::jsonb) as x(id uuid, sample_sha256 char(64), ruleset_id uuid, status text,
    verdict text, started_at timestamptz, finished_at timestamptz, duration_ms integer, analysis jsonb)`;

/** In the given order (matches.id is the order a scan's matches are shown in). */
const INSERT_MATCHES = `
  insert into matches (scan_id, rule, namespace, tags, meta, strings, noisy)
  select x.scan_id, x.rule, x.namespace, array(select jsonb_array_elements_text(x.tags)), x.meta, x.strings,
    x.noisy
  from rows from (jsonb_to_recordset($1::jsonb) as (scan_id uuid, rule text, namespace text, tags jsonb,
    meta jsonb, strings jsonb, noisy boolean)) with ordinality as x(scan_id, rule, namespace, tags, meta, strings,
    noisy, n)
  order by x.n`;

/**
 * A scan that timed out has no verdict of its own (libyara reports no match then): a sample with a verdict
 * from a scan that finished keeps it, with that scan as its latest and its rule and tag copies, and only
 * its `scan_status` says the last attempt timed out (as a scan that failed for good leaves the verdict).
 * A rescan that ran out of time no longer erased a known malicious verdict, which agents' lookups answer.
 */
const KEEPS_VERDICT = `(v.status = 'timeout' and samples.verdict is not null)`;

/**
 * The sample takes the scan's verdict unless it already has one from the active ruleset and this scan used
 * another, or this scan timed out and the sample has a verdict ({@link KEEPS_VERDICT}). sha256 as char(64), the column's type: a text value would compare as text and miss the key. The
 * rows come as arrays, and `sha256 = any($1)` hands the planner the key lookup whatever it guesses of the
 * batch's size (a guess of 100 rows from a set-returning function makes a seq scan of samples look cheap).
 *
 * The rule and tag copies (match_rules, match_tags) are the samples_latest_matches trigger's aggregates,
 * run here instead of by the trigger ({@link COPIES_GIVEN} turns it off for the transaction, migration 0017)
 * and only for scans that have matches ($7): most have none, and the trigger ran two queries for every row.
 */
const UPDATE_SAMPLES = `
  update samples set
    scan_status = v.status,
    verdict = case when ${KEEPS_VERDICT} then samples.verdict else v.verdict end,
    latest_scan_id = case when ${KEEPS_VERDICT} then samples.latest_scan_id else v.scan_id end,
    file_type = coalesce(v.file_type, samples.file_type),
    match_rules = case when ${KEEPS_VERDICT} then samples.match_rules when v.matched then coalesce(
      (select array_agg(distinct m.rule order by m.rule) from matches m where m.scan_id = v.scan_id),
      '{}') else '{}' end,
    match_tags = case when ${KEEPS_VERDICT} then samples.match_tags when v.matched then coalesce(
      (select array_agg(distinct t.tag order by t.tag)
       from matches m cross join lateral unnest(m.tags) as t(tag) where m.scan_id = v.scan_id),
      '{}') else '{}' end
  from unnest($1::char(64)[], $2::text[], $3::text[], $4::uuid[], $5::uuid[], $6::text[], $7::boolean[])
    as v(sha256, status, verdict, scan_id, ruleset_id, file_type, matched)
  where samples.sha256 = any($1::char(64)[])
    and samples.sha256 = v.sha256
    and (samples.latest_scan_id is null
      or v.ruleset_id = (select id from rulesets where status = 'active')
      or (select ruleset_id from scans where id = samples.latest_scan_id)
        is distinct from (select id from rulesets where status = 'active'))`;

/**
 * Tells the samples_latest_matches trigger that this transaction's sample updates bring their own rule and
 * tag copies (is_local: until the transaction ends, on the pooled connection too).
 */
const COPIES_GIVEN = `select set_config('specimen.sample_copies', 'given', true)`;

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
   * {@link record} for many scans in one transaction and three statements (scans, matches, samples; after
   * {@link COPIES_GIVEN}), so a busy scanner pays one commit and a handful of round trips per batch instead of
   * five per scan. Each statement is fixed text with one JSON parameter (the rows) sent as a named prepared
   * statement: PostgreSQL parses it once per connection, and no per-value work is done in JavaScript beyond one JSON.stringify.
   * Scans of the same sample apply in the given order, as separate {@link record} calls would. Returns the
   * scan ids in input order; all or nothing.
   */
  async recordMany(inputs: readonly RecordScanInput[]): Promise<string[]> {
    const rows = inputs.map((input) => ({ ...input, id: uuidV7() }));
    if (rows.length === 0) return [];
    await this.database.rawTransaction(async (client) => {
      await client.query({ name: 'scans.recordMany.copiesGiven', text: COPIES_GIVEN });
      for (const group of withoutRepeatedSamples(rows)) {
        const now = new Date();
        await client.query({
          name: 'scans.recordMany.scans',
          text: INSERT_SCANS,
          values: [
            JSON.stringify(
              group.map((r) => ({
                id: r.id,
                sample_sha256: r.sha256,
                ruleset_id: r.rulesetId,
                status: r.status,
                verdict: r.verdict,
                started_at: r.startedAt,
                finished_at: r.finishedAt ?? now,
                duration_ms: Math.round(r.durationMs),
                analysis: r.analysis ?? null,
              })),
            ),
          ],
        });
        const matchRows = group.flatMap((r) =>
          r.matches.map((m) => ({
            scan_id: r.id,
            rule: m.rule,
            namespace: m.namespace,
            tags: m.tags,
            meta: m.meta,
            strings: m.strings,
            noisy: m.noisy,
          })),
        );
        if (matchRows.length > 0) {
          await client.query({
            name: 'scans.recordMany.matches',
            text: INSERT_MATCHES,
            values: [JSON.stringify(matchRows)],
          });
        }
        await client.query({
          name: 'scans.recordMany.samples',
          text: UPDATE_SAMPLES,
          values: [
            group.map((r) => r.sha256),
            group.map((r) => r.status),
            group.map((r) => r.verdict),
            group.map((r) => r.id),
            group.map((r) => r.rulesetId),
            group.map((r) => r.analysis?.fileType.type ?? null),
            group.map((r) => r.matches.length > 0),
          ],
        });
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
