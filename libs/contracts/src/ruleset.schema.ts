import { z } from 'zod';

/**
 * Largest rule source accepted (ruleset or retrohunt): room for signature-base's 5,287 rules (5.9 MB).
 * The JSON body that carries it may be up to twice as long (escaped quotes and backslashes).
 */
export const RULESET_SOURCE_MAX_CHARS = 16 * 1024 * 1024;
export const RULESET_BODY_MAX_BYTES = 2 * RULESET_SOURCE_MAX_CHARS;

/**
 * A rule source: YARA reads it as a C string, so a NUL would silently end it there (and PostgreSQL refuses
 * to store one in text).
 */
export const RuleSource = z
  .string()
  .min(1)
  .max(RULESET_SOURCE_MAX_CHARS)
  .refine((source) => !source.includes('\0'), {
    error: (issue) =>
      `must not contain a NUL character (found at offset ${String(issue.input).indexOf('\0')}): YARA would stop reading there`,
  });

export const RULESET_STATUSES = ['staging', 'active', 'disabled'] as const;
export type RulesetStatus = (typeof RULESET_STATUSES)[number];

export const RULE_STATES = ['enabled', 'disabled', 'noisy'] as const;
export type RuleState = (typeof RULE_STATES)[number];

/** `POST /v1/rulesets`: the name is also the YARA namespace of its rules. */
export const CreateRulesetRequest = z.strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/, 'must be a letter then up to 63 letters, digits, _ . or -'),
  source: RuleSource,
});
export type CreateRulesetRequest = z.infer<typeof CreateRulesetRequest>;

/** `PATCH /v1/rulesets/:id/rules/:rule`. */
export const SetRuleStateRequest = z.strictObject({
  state: z.enum(RULE_STATES),
  /**
   * Active version only: rescan, at low priority, the samples whose verdict the change can move (those
   * whose latest scan matched the rule; every sample when a disabled rule comes back, its matches not
   * having been recorded).
   */
  rescan: z.boolean().default(false),
});
export type SetRuleStateRequest = z.infer<typeof SetRuleStateRequest>;

/** A compiler error or warning of one rule; libyara gives lines, the column is a best effort. */
export interface RuleDiagnosticView {
  severity: 'error' | 'warning';
  rule: string | null;
  line: number;
  column: number | null;
  message: string;
}

/** Answer of `POST /v1/rulesets`. */
export interface RulesetCreated {
  id: string;
  name: string;
  version: number;
  status: RulesetStatus;
  ruleCount: number;
  quarantined: string[];
  diagnostics: RuleDiagnosticView[];
}

/** A version in `GET /v1/rulesets`. */
export interface RulesetSummaryView {
  id: string;
  name: string;
  version: number;
  status: RulesetStatus;
  sourceSha256: string;
  ruleCount: number;
  quarantined: string[];
  createdAt: string;
  /** Token id and name of who created the version (null for the default ruleset made at first start). */
  createdBy: { id: string; name: string | null } | null;
  activatedAt: string | null;
  activatedBy: { id: string; name: string | null } | null;
}

export interface RuleView {
  name: string;
  /** `quarantined` rules did not compile and never run, whatever their state. */
  state: RuleState | 'quarantined';
  /** Who last set the rule's state, and when; absent for a rule whose state was never set. */
  changedBy?: { id: string; name: string | null } | null;
  changedAt?: string;
}

/** Answer of `PATCH /v1/rulesets/:id/rules/:rule`. */
export interface RuleStateChanged {
  name: string;
  state: RuleState;
  /** With `rescan`: the retro-scan queued, and whether it covers every sample or those that matched. */
  rescan?: { jobId: string; allSamples: boolean };
}

/** `GET /v1/rulesets/:id`. */
export interface RulesetView extends RulesetSummaryView {
  source: string;
  diagnostics: RuleDiagnosticView[];
  rules: RuleView[];
}

/** Answer of `POST /v1/samples/:sha256/rescan`. */
export interface RescanQueued {
  sha256: string;
  jobId: string;
}
