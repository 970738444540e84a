import { z } from 'zod';
import { SampleKind, type Verdict } from './submission.schema.js';
import { isCountryCode } from './countries.js';
import { queryInt } from './query.js';
import { label } from './text.js';

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

export interface EnrollmentTokenCreated {
  id: string;
  name: string | null;
  expiresAt: string;
  maxUses: number;
  /** Shown once; only its hash is stored. */
  token: string;
}

/** An enrollment token as `GET /v1/enrollment-tokens` lists it: never the token itself. */
export interface EnrollmentTokenView {
  id: string;
  name: string | null;
  expiresAt: string;
  maxUses: number;
  uses: number;
  createdAt: string;
  createdBy: string | null;
  revokedAt: string | null;
}

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

export interface Enrolled {
  agentId: string;
  /** The agent's bearer token, shown once; only its hash is stored. */
  apiKey: string;
}

export interface AgentView {
  id: string;
  /**
   * How the audit log, sightings and statistics name this agent: HMAC-SHA256 of its id under
   * PSEUDONYM_KEY (null only for an agent enrolled before that existed, until the next start-up).
   */
  pseudonym: string | null;
  product: { name: string; version: string };
  os: { family: string; version: string };
  country: string | null;
  enrolledAt: string;
  revokedAt: string | null;
  consent: {
    participating: boolean;
    statementVersion: string | null;
    changedAt: string | null;
    revokedAt: string | null;
  };
}

/** `GET /v1/agents` query: keyset pagination by agent id. */
export const ListAgentsQuery = z.strictObject({
  limit: queryInt(1, 500, 100),
  after: z.uuid().optional(),
});
export type ListAgentsQuery = z.infer<typeof ListAgentsQuery>;

export interface AgentPage {
  items: AgentView[];
  /** Pass as `after` for the next page; null on the last one. */
  next: string | null;
}

/** `PUT /v1/agents/me/consent`. */
export const ConsentRequest = z.strictObject({
  participating: z.boolean(),
  statementVersion: label(64),
});
export type ConsentRequest = z.infer<typeof ConsentRequest>;

export interface ConsentView {
  agentId: string;
  participating: boolean;
  /** Null only for an agent that never consented, withdrawn by an admin. */
  statementVersion: string | null;
  changedAt: string;
}

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

export type LookupResult =
  | {
      sha256: string;
      known: boolean;
      /**
       * True when the service wants the bytes: unknown, or known but its stored object is missing (looked
       * for only when the sample's scan failed, which is where a missing object is found).
       */
      wanted: boolean;
      verdict?: Verdict;
    }
  | { sha256: string | null; error: string };

export interface LookupResponse {
  items: LookupResult[];
}
