import type { AnalysisResult, FileType } from './analysis.js';
import type { SampleKind, Verdict } from './submission.schema.js';

export type ScanStatus = 'pending' | 'scanned' | 'failed' | 'timeout';

export interface StringMatchView {
  identifier: string;
  offset: number;
  length: number;
}

export interface MatchView {
  rule: string;
  namespace: string;
  tags: string[];
  meta: Record<string, string | number | boolean>;
  strings: StringMatchView[];
  /** The rule was marked noisy: its match is shown but did not raise the verdict. */
  noisy: boolean;
}

/** One row of a sample search. */
export interface SampleSummary {
  sha256: string;
  sha1: string;
  md5: string;
  size: number;
  kind: SampleKind;
  firstSeen: string;
  lastSeen: string;
  sightings: number;
  scanStatus: ScanStatus;
  verdict: Verdict | null;
}

/** Everything known about one sample: its summary, the verdict's scan, matches and analysis. */
export interface SampleView extends SampleSummary {
  /** The ruleset version (id, name and number) of the scan the verdict comes from. */
  rulesetId: string | null;
  rulesetName: string | null;
  rulesetVersion: number | null;
  scannedAt: string | null;
  matches: MatchView[];
  /** The analyzers' broad file type; null before the first scan. */
  fileType: FileType | null;
  /** What the analyzers found, from the latest scan; null before it. */
  analysis: AnalysisResult | null;
}
