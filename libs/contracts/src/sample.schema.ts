import { z } from 'zod';
import { AnalysisResult, FILE_TYPES } from './analysis.js';
import { SampleKind, Verdict } from './submission.schema.js';
import { Count, IsoTime, Id, Md5Hex, RuleMeta, Sha1Hex, Sha256Hex } from './views.js';

export const ScanStatus = z.enum(['pending', 'scanned', 'failed', 'timeout']);
export type ScanStatus = z.infer<typeof ScanStatus>;

export const StringMatchView = z.strictObject({
  identifier: z.string(),
  offset: Count,
  length: Count,
});
export type StringMatchView = z.infer<typeof StringMatchView>;

export const MatchView = z.strictObject({
  rule: z.string(),
  namespace: z.string(),
  tags: z.array(z.string()),
  meta: RuleMeta,
  strings: z.array(StringMatchView),
  /** The rule was marked noisy: its match is shown but did not raise the verdict. */
  noisy: z.boolean(),
});
export type MatchView = z.infer<typeof MatchView>;

/** One row of a sample search. */
export const SampleSummary = z.strictObject({
  sha256: Sha256Hex,
  sha1: Sha1Hex,
  md5: Md5Hex,
  size: Count,
  kind: SampleKind,
  firstSeen: IsoTime,
  lastSeen: IsoTime,
  sightings: Count,
  scanStatus: ScanStatus,
  verdict: Verdict.nullable(),
});
export type SampleSummary = z.infer<typeof SampleSummary>;

/** Everything known about one sample: its summary, the verdict's scan, matches and analysis. */
export const SampleView = SampleSummary.extend({
  /** The ruleset version (id, name and number) of the scan the verdict comes from. */
  rulesetId: Id.nullable(),
  rulesetName: z.string().nullable(),
  rulesetVersion: Count.nullable(),
  scannedAt: IsoTime.nullable(),
  matches: z.array(MatchView),
  /** The analyzers' broad file type; null before the first scan. */
  fileType: z.enum(FILE_TYPES).nullable(),
  /** What the analyzers found, from the latest scan; null before it. */
  analysis: AnalysisResult.nullable(),
});
export type SampleView = z.infer<typeof SampleView>;
