import { z } from 'zod';
import { SampleKind, Verdict } from './submission.schema.js';
import { isCountryCode } from './countries.js';
import { queryInt } from './query.js';
import { label } from './text.js';
import { Count, Country, Id, IsoTime, Sha256Hex } from './views.js';

/** `POST /v1/enrollment-tokens`: an expiry (absolute or relative) and a use limit. */
/** Longest life of an enrollment token: 366 days. */
const MAX_ENROLLMENT_TOKEN_SECONDS = 366 * 24 * 3600;

export const CreateEnrollmentTokenRequest = z
  .strictObject({
    name: label(128).optional(),
    expiresAt: z.iso.datetime({ offset: true }).optional(),
    ttlSeconds: z.number().int().min(1).max(MAX_ENROLLMENT_TOKEN_SECONDS).optional(),
    maxUses: z.number().int().min(1).max(10_000_000),
  })
  .refine((r) => (r.expiresAt === undefined) !== (r.ttlSeconds === undefined), {
    message: 'give exactly one of expiresAt and ttlSeconds',
    path: ['expiresAt'],
  })
  // A token born expired could never enroll anything: a mistake (a wrong year, a wrong zone), said at once.
  .refine((r) => r.expiresAt === undefined || Date.parse(r.expiresAt) > Date.now(), {
    message: 'expiresAt must be in the future',
    path: ['expiresAt'],
  })
  // The same bound as ttlSeconds, which an absolute time would otherwise get around.
  .refine(
    (r) =>
      r.expiresAt === undefined ||
      Date.parse(r.expiresAt) <= Date.now() + MAX_ENROLLMENT_TOKEN_SECONDS * 1000,
    { message: 'expiresAt must be within 366 days', path: ['expiresAt'] },
  );
export type CreateEnrollmentTokenRequest = z.infer<typeof CreateEnrollmentTokenRequest>;

export const EnrollmentTokenCreated = z.strictObject({
  id: Id,
  name: z.string().nullable(),
  expiresAt: IsoTime,
  maxUses: Count,
  /** Shown once; only its hash is stored. */
  token: z.string(),
});
export type EnrollmentTokenCreated = z.infer<typeof EnrollmentTokenCreated>;

/** An enrollment token as `GET /v1/enrollment-tokens` lists it: never the token itself. */
export const EnrollmentTokenView = z.strictObject({
  id: Id,
  name: z.string().nullable(),
  expiresAt: IsoTime,
  maxUses: Count,
  uses: Count,
  createdAt: IsoTime,
  createdBy: Id.nullable(),
  revokedAt: IsoTime.nullable(),
});
export type EnrollmentTokenView = z.infer<typeof EnrollmentTokenView>;

/** `GET /v1/enrollment-tokens`. */
export const EnrollmentTokenList = z.strictObject({ items: z.array(EnrollmentTokenView) });
export type EnrollmentTokenList = z.infer<typeof EnrollmentTokenList>;

/** Answer of `POST /v1/enrollment-tokens/:id/revoke`. */
export const EnrollmentTokenRevoked = z.strictObject({ id: Id, revokedAt: IsoTime });
export type EnrollmentTokenRevoked = z.infer<typeof EnrollmentTokenRevoked>;

/** ISO 3166-1 alpha-2 country code, an assigned one (see countries.ts); any case, stored upper case. */
export const CountryCode = z
  .string()
  .regex(/^[A-Za-z]{2}$/, 'country must be an ISO 3166-1 alpha-2 code')
  .refine(isCountryCode, {
    error: (issue) =>
      String(issue.input).toUpperCase() === 'UK'
        ? 'country UK is not an ISO 3166-1 code: the United Kingdom is GB'
        : `country ${String(issue.input)} is not an assigned ISO 3166-1 alpha-2 code`,
  })
  .transform((c) => c.toUpperCase());

/**
 * `POST /v1/agents/enroll`. Only what the privacy promises allow: strict, so a host name, user name or
 * anything else sent along is refused rather than silently kept.
 */
export const EnrollRequest = z.strictObject({
  enrollmentToken: z.string().min(1).max(256),
  product: z.strictObject({ name: label(128), version: label(64) }),
  os: z.strictObject({ family: label(64), version: label(64) }),
  country: CountryCode.optional(),
});
export type EnrollRequest = z.infer<typeof EnrollRequest>;

export const Enrolled = z.strictObject({
  agentId: Id,
  /** The agent's bearer token, shown once; only its hash is stored. */
  apiKey: z.string(),
});
export type Enrolled = z.infer<typeof Enrolled>;

export const AgentView = z.strictObject({
  id: Id,
  /**
   * How the audit log, sightings and statistics name this agent: HMAC-SHA256 of its id under
   * PSEUDONYM_KEY (null only for an agent enrolled before that existed, until the next start-up).
   */
  pseudonym: Sha256Hex.nullable(),
  product: z.strictObject({ name: z.string(), version: z.string() }),
  os: z.strictObject({ family: z.string(), version: z.string() }),
  country: Country.nullable(),
  enrolledAt: IsoTime,
  revokedAt: IsoTime.nullable(),
  consent: z.strictObject({
    participating: z.boolean(),
    statementVersion: z.string().nullable(),
    changedAt: IsoTime.nullable(),
    revokedAt: IsoTime.nullable(),
  }),
});
export type AgentView = z.infer<typeof AgentView>;

/** `GET /v1/agents` query: keyset pagination by agent id. */
export const ListAgentsQuery = z.strictObject({
  limit: queryInt(1, 500, 100),
  after: z.uuid().optional(),
});
export type ListAgentsQuery = z.infer<typeof ListAgentsQuery>;

export const AgentPage = z.strictObject({
  items: z.array(AgentView),
  /** Pass as `after` for the next page; null on the last one. */
  next: Id.nullable(),
});
export type AgentPage = z.infer<typeof AgentPage>;

/** `PUT /v1/agents/me/consent`. */
export const ConsentRequest = z.strictObject({
  participating: z.boolean(),
  statementVersion: label(64),
});
export type ConsentRequest = z.infer<typeof ConsentRequest>;

export const ConsentView = z.strictObject({
  agentId: Id,
  participating: z.boolean(),
  /** Null only for an agent that never consented, withdrawn by an admin. */
  statementVersion: z.string().nullable(),
  changedAt: IsoTime,
});
export type ConsentView = z.infer<typeof ConsentView>;

/** Most items one lookup request may carry. */
export const LOOKUP_MAX_ITEMS = 1000;

/** The batch is checked as a whole only for its shape; each item is checked on its own. */
export const LookupRequest = z.strictObject({
  items: z.array(z.unknown()).min(1).max(LOOKUP_MAX_ITEMS),
});

/** One item of a lookup; a malformed one is answered with an error, not by failing the batch. */
export const LookupItem = z.strictObject({
  sha256: z
    .string()
    .regex(/^[0-9A-Fa-f]{64}$/, 'sha256 must be 64 hexadecimal digits')
    .transform((s) => s.toLowerCase()),
  size: z.number().int().nonnegative().optional(),
  kind: SampleKind.optional(),
});
export type LookupItem = z.infer<typeof LookupItem>;

export const LookupResult = z.union([
  z.strictObject({
    sha256: Sha256Hex,
    known: z.boolean(),
    /**
     * True when the service wants the bytes: unknown, or known but its stored object is missing (looked
     * for only when the sample's scan failed, which is where a missing object is found).
     */
    wanted: z.boolean(),
    /** Once the sample is scanned (a timed-out scan has none). */
    verdict: Verdict.optional(),
  }),
  /** A malformed item: its `sha256` as sent (at most 128 characters), or null when it was not a string. */
  z.strictObject({ sha256: z.string().max(128).nullable(), error: z.string() }),
]);
export type LookupResult = z.infer<typeof LookupResult>;

/** Answer of `POST /v1/lookups`: one result per item, in order. */
export const LookupResponse = z.strictObject({ items: z.array(LookupResult) });
export type LookupResponse = z.infer<typeof LookupResponse>;
