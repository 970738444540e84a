import { z } from 'zod';
import { ActorView, Count, Id, IsoTime, Sha256Hex } from './views.js';

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
export const RulesetStatus = z.enum(RULESET_STATUSES);
export type RulesetStatus = z.infer<typeof RulesetStatus>;

export const RULE_STATES = ['enabled', 'disabled', 'noisy'] as const;
export const RuleState = z.enum(RULE_STATES);
export type RuleState = z.infer<typeof RuleState>;

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
export const RuleDiagnosticView = z.strictObject({
  severity: z.enum(['error', 'warning']),
  rule: z.string().nullable(),
  line: Count,
  column: Count.nullable(),
  message: z.string(),
});
export type RuleDiagnosticView = z.infer<typeof RuleDiagnosticView>;

/** Answer of `POST /v1/rulesets`. */
export const RulesetCreated = z.strictObject({
  id: Id,
  name: z.string(),
  version: Count,
  status: RulesetStatus,
  ruleCount: Count,
  quarantined: z.array(z.string()),
  diagnostics: z.array(RuleDiagnosticView),
});
export type RulesetCreated = z.infer<typeof RulesetCreated>;

/** A version in `GET /v1/rulesets`. */
export const RulesetSummaryView = z.strictObject({
  id: Id,
  name: z.string(),
  version: Count,
  status: RulesetStatus,
  sourceSha256: Sha256Hex,
  ruleCount: Count,
  quarantined: z.array(z.string()),
  createdAt: IsoTime,
  /** Token id and name of who created the version (null for the default ruleset made at first start). */
  createdBy: ActorView.nullable(),
  activatedAt: IsoTime.nullable(),
  activatedBy: ActorView.nullable(),
});
export type RulesetSummaryView = z.infer<typeof RulesetSummaryView>;

export const RuleView = z.strictObject({
  name: z.string(),
  /** `quarantined` rules did not compile and never run, whatever their state. */
  state: z.enum([...RULE_STATES, 'quarantined']),
  /** Who last set the rule's state, and when; absent for a rule whose state was never set. */
  changedBy: ActorView.nullable().optional(),
  changedAt: IsoTime.optional(),
});
export type RuleView = z.infer<typeof RuleView>;

/** Answer of `PATCH /v1/rulesets/:id/rules/:rule`. */
export const RuleStateChanged = z.strictObject({
  name: z.string(),
  state: RuleState,
  /** With `rescan`: the retro-scan queued, and whether it covers every sample or those that matched. */
  rescan: z.strictObject({ jobId: z.string(), allSamples: z.boolean() }).optional(),
});
export type RuleStateChanged = z.infer<typeof RuleStateChanged>;

/** `GET /v1/rulesets/:id`. */
export const RulesetView = RulesetSummaryView.extend({
  source: z.string(),
  diagnostics: z.array(RuleDiagnosticView),
  rules: z.array(RuleView),
});
export type RulesetView = z.infer<typeof RulesetView>;

/** Answer of `POST /v1/samples/:sha256/rescan`. */
export const RescanQueued = z.strictObject({ sha256: Sha256Hex, jobId: z.string() });
export type RescanQueued = z.infer<typeof RescanQueued>;
