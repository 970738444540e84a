import type { Verdict } from '#contracts';

export interface VerdictThresholds {
  /** A match scoring at least this makes the sample malicious. */
  maliciousScore: number;
  /** A match scoring at least this (and below malicious) makes it suspicious. */
  suspiciousScore: number;
}

interface RuleMatch {
  tags: string[];
  meta: Record<string, string | number | boolean>;
  /** Marked noisy by an analyst: shown with the sample, never raises the verdict. */
  noisy?: boolean;
}

const DECIMAL = /^\s*[-+]?\d+(?:\.\d+)?\s*$/;

const SEVERITY_SCORES: Record<string, number> = {
  critical: 100,
  malicious: 100,
  high: 80,
  suspicious: 50,
  medium: 50,
  low: 20,
  info: 0,
  informational: 0,
  clean: 0,
};

/**
 * The score (0–100) one matching rule contributes: meta `score` when it is a number in range, else meta
 * `severity` by name, else the tags `malicious`/`suspicious`, else `suspiciousScore` (a rule that says
 * nothing about its weight is worth a look, not a conviction).
 */
export function ruleScore(match: RuleMatch, thresholds: VerdictThresholds): number {
  const score = match.meta.score;
  // A string counts only when it is a decimal number: Number() reads "" and " " as 0 and "0x46" as 70.
  const numeric = typeof score === 'string' ? (DECIMAL.test(score) ? Number(score) : undefined) : score;
  if (typeof numeric === 'number' && Number.isFinite(numeric)) return Math.min(100, Math.max(0, numeric));
  const severity = match.meta.severity;
  if (typeof severity === 'string') {
    const mapped = SEVERITY_SCORES[severity.toLowerCase()];
    if (mapped !== undefined) return mapped;
  }
  const tags = match.tags.map((t) => t.toLowerCase());
  if (tags.includes('malicious')) return 100;
  if (tags.includes('suspicious')) return thresholds.suspiciousScore;
  return thresholds.suspiciousScore;
}

/**
 * The verdict of a scan: the highest score of the matching rules that are not noisy, against the
 * thresholds; no (counted) match is clean.
 */
export function computeVerdict(matches: readonly RuleMatch[], thresholds: VerdictThresholds): Verdict {
  const counted = matches.filter((m) => m.noisy !== true);
  const top = counted.reduce((max, m) => Math.max(max, ruleScore(m, thresholds)), 0);
  if (counted.length > 0 && top >= thresholds.maliciousScore) return 'malicious';
  if (counted.length > 0 && top >= thresholds.suspiciousScore) return 'suspicious';
  return 'clean';
}

/**
 * Applies analysts' rule states to a scan's matches: matches of `disabled` rules are dropped (they never
 * count nor show), those of `noisy` rules are kept and flagged. Rules without a state are enabled.
 */
export function applyRuleStates<M extends { rule: string }>(
  matches: readonly M[],
  states: ReadonlyMap<string, 'enabled' | 'disabled' | 'noisy'>,
): Array<M & { noisy: boolean }> {
  return matches
    .filter((m) => states.get(m.rule) !== 'disabled')
    .map((m) => ({ ...m, noisy: states.get(m.rule) === 'noisy' }));
}
