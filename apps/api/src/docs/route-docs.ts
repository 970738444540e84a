import { z } from 'zod';
import {
  ActivateRulesetRequest,
  AgentPage,
  AgentView,
  AnalysisResult,
  ApiDocument,
  AuditPage,
  AuditQuery,
  AuditView,
  ConsentView,
  Enrolled,
  EnrollmentTokenCreated,
  EnrollmentTokenList,
  EnrollmentTokenRevoked,
  EnrollmentTokenView,
  FailedJobView,
  LivenessView,
  LookupResponse,
  LookupResult,
  MaintenanceQueued,
  MatchView,
  PreviewView,
  QueuesView,
  ReadinessView,
  ReplayedJobsView,
  RescanQueued,
  RetrohuntSummaryView,
  RetrohuntView,
  RuleDiagnosticView,
  RuleStateChanged,
  RulesetCreated,
  RulesetSummaryView,
  RulesetView,
  SamplePage,
  SampleSummary,
  SampleView,
  ScanPage,
  ScanView,
  SightingPage,
  SightingView,
  StatsCellView,
  StatsOverviewView,
  StatsSeriesView,
  SubmissionCreated,
  SubmissionView,
  TokenCreated,
  TokenList,
  TokenView,
  WhoAmIView,
  ConsentRequest,
  CreateEnrollmentTokenRequest,
  CreateRetrohuntRequest,
  CreateRulesetRequest,
  CreateTokenRequest,
  EnrollRequest,
  type ErrorCode,
  IDEMPOTENCY_KEY_HEADER,
  IdempotencyKey,
  FailedJobsQuery,
  ListAgentsQuery,
  LookupItem,
  LookupRequest,
  PageQuery,
  SightingsQuery,
  PreviewQuery,
  ReplayFailedJobsRequest,
  RetrohuntMatchesQuery,
  SearchSamplesQuery,
  SetRuleStateRequest,
  StatsOverviewQuery,
  StatsSeriesQuery,
  SubmissionMetadata,
} from '#contracts';

/** What the document says about one route beyond what Nest's metadata gives. */
export interface RouteDoc {
  summary: string;
  tag: string;
  /** Status of a successful answer. */
  status: number;
  /** The successful answer has no body (tus: its state is in headers). */
  emptyBody?: true;
  /** Media type of the successful answer (JSON unless said). */
  produces?: 'application/json' | 'application/zip' | 'text/plain' | 'text/html' | 'application/octet-stream';
  /**
   * Schema of a successful JSON answer: every JSON route has one, its example parses with it, and the
   * permission matrix checks every real 2xx answer against what the document publishes of it.
   */
  response?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  /** `multipart/form-data` with a JSON `metadata` part (this schema) and a binary `file` part. */
  multipart?: z.ZodType;
  /** Request headers the route reads (optional ones), each with its schema and an example that parses. */
  headers?: Record<string, { description: string; schema: z.ZodType; example: string }>;
  /** Error codes particular to this route (auth, validation and INTERNAL are added from its shape). */
  errors?: ErrorCode[];
  example: { request?: unknown; response?: unknown };
  /** Answers that are not errors of the common shape (the readiness 503, an upload's 200). */
  otherResponses?: Record<string, { description: string; example: unknown; schema: z.ZodType }>;
}

const SHA = '275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f';
const ID = '0b6e3f0e-3c35-4c8e-9a55-6c1c3a5b8d11';
const AT = '2026-01-01T12:00:00.000Z';
const PSEUDONYM = '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08';
const retrohunt = {
  id: ID,
  status: 'running',
  ruleCount: 1,
  progress: { scanned: 120, timedOut: 0, total: 480, bytes: 7340032 },
  matchCount: 1,
  createdAt: AT,
  createdBy: { id: ID, name: 'analyst-1' },
  startedAt: AT,
  finishedAt: null,
  error: null,
};
const agent = {
  id: ID,
  pseudonym: PSEUDONYM,
  product: { name: 'demo', version: '1.0' },
  os: { family: 'linux', version: '6.1' },
  country: null,
  enrolledAt: AT,
  revokedAt: AT,
  consent: { participating: false, statementVersion: null, changedAt: null, revokedAt: null },
};
const summary = {
  sha256: SHA,
  sha1: '3395856ce81f2b7382dee72602f798b642f14140',
  md5: '44d88612fea8a8f36de82e1278abb02f',
  size: 68,
  kind: 'file',
  firstSeen: AT,
  lastSeen: AT,
  sightings: 1,
  scanStatus: 'scanned',
  verdict: 'malicious',
};
const ruleset = {
  id: ID,
  name: 'default',
  version: 2,
  status: 'staging',
  sourceSha256: SHA,
  ruleCount: 1,
  quarantined: [],
  createdAt: AT,
  createdBy: { id: ID, name: 'analyst-1' },
  activatedAt: null,
  activatedBy: null,
};

/**
 * One entry per route, keyed `METHOD /express/path`. A route served without an entry is still listed in
 * the document (from Nest's metadata) but without a summary, which the OpenAPI test refuses.
 */
export const ROUTE_DOCS: Record<string, RouteDoc> = {
  'GET /health/live': {
    summary: 'Liveness: the process answers',
    tag: 'operations',
    status: 200,
    response: LivenessView,
    example: { response: { status: 'ok' } },
  },
  'GET /health/ready': {
    summary: 'Readiness of PostgreSQL, Redis and storage (each check time-bounded); 503 names what failed',
    tag: 'operations',
    status: 200,
    response: ReadinessView,
    example: { response: { status: 'ok', checks: { database: 'ok', redis: 'ok', storage: 'ok' } } },
    otherResponses: {
      '503': {
        description: 'a check failed or did not answer in time',
        example: { status: 'failed', checks: { database: 'ok', redis: 'failed', storage: 'ok' } },
        schema: ReadinessView,
      },
    },
  },
  'GET /metrics': {
    summary: 'Prometheus metrics (Bearer METRICS_TOKEN when it is set)',
    tag: 'operations',
    status: 200,
    produces: 'text/plain',
    errors: ['UNAUTHENTICATED'],
    example: { response: 'specimen_ingested_bytes_total{kind="file",app="api"} 68' },
  },
  'GET /docs': {
    summary: 'Swagger UI over this document (served from the swagger-ui-dist package, nothing fetched)',
    tag: 'documentation',
    status: 200,
    produces: 'text/html',
    example: {},
  },
  'GET /docs/openapi.json': {
    summary: 'This OpenAPI 3.1 document',
    tag: 'documentation',
    status: 200,
    response: ApiDocument,
    example: {
      response: {
        openapi: '3.1.0',
        info: { title: 'Specimen', version: '0.1.0' },
        servers: [{ url: '/' }],
        tags: [{ name: 'operations' }],
        paths: { '/health/live': { get: { operationId: 'getHealthLive' } } },
        components: { schemas: {} },
      },
    },
  },
  'GET /docs/assets/:file': {
    summary: 'Static Swagger UI files',
    tag: 'documentation',
    status: 200,
    produces: 'application/octet-stream',
    errors: ['NOT_FOUND'],
    example: {},
  },
  'POST /v1/submissions': {
    summary: 'Upload a sample: a metadata JSON part first, then the file part (200 when already known)',
    tag: 'ingest',
    status: 201,
    response: SubmissionCreated,
    multipart: SubmissionMetadata,
    headers: {
      [IDEMPOTENCY_KEY_HEADER]: {
        description:
          'Optional. One random value per upload (a UUID), sent again on every retry of it: a retry after a ' +
          'lost answer gets the first answer again (same submission, status and body, with `Idempotent-Replayed: true`) ' +
          "instead of recording a second sighting. Scoped to the caller's agent; remembered IDEMPOTENCY_KEY_HOURS " +
          '(default 24). The same key with other bytes or metadata: 422 IDEMPOTENCY_KEY_REUSED. A request ' +
          'racing one with the same key waits for it and answers as it did.',
        schema: IdempotencyKey,
        example: '5f0c6b1e-8f0a-4a55-9d3c-2b1f7c9e4d21',
      },
    },
    errors: [
      'MISSING_FILE',
      'EMPTY_FILE',
      'UNEXPECTED_FIELD',
      'MALFORMED_BODY',
      'CONSENT_REQUIRED',
      'FILE_TOO_LARGE',
      'UNSUPPORTED_MEDIA_TYPE',
      'CHECKSUM_MISMATCH',
      'SIZE_MISMATCH',
      'IDEMPOTENCY_KEY_REUSED',
      'RATE_LIMITED',
      'BACKPRESSURE',
      'STORAGE_UNAVAILABLE',
    ],
    example: {
      request: { metadata: { kind: 'file', sha256: SHA, size: 68, filename: 'eicar.com' } },
      response: { submissionId: ID, sha256: SHA, duplicate: false },
    },
    otherResponses: {
      '200': {
        description: 'the sample was already stored: this submission is a new sighting of it',
        example: { submissionId: ID, sha256: SHA, duplicate: true },
        schema: SubmissionCreated,
      },
    },
  },
  'GET /v1/submissions/:id': {
    summary:
      'Status and verdict of a submission (agents: their own only; 404 once its sample is past retention)',
    tag: 'ingest',
    status: 200,
    response: SubmissionView,
    errors: ['NOT_FOUND'],
    example: {
      response: {
        id: ID,
        sha256: SHA,
        kind: 'file',
        status: 'scanned',
        verdict: 'malicious',
        receivedAt: AT,
        filename: 'eicar.com',
      },
    },
  },
  'GET /v1/samples': {
    summary:
      'Search samples (hash, kind, verdict, rule, tag, file type, country, size, seen ranges; keyset paging)',
    tag: 'samples',
    status: 200,
    response: SamplePage,
    query: SearchSamplesQuery,
    example: {
      request: { verdict: 'malicious', fileType: 'pe', country: 'DE', limit: 50 },
      response: { items: [summary], nextCursor: null },
    },
  },
  'GET /v1/samples/:sha256': {
    summary: 'Everything known about a sample',
    tag: 'samples',
    status: 200,
    response: SampleView,
    errors: ['NOT_FOUND'],
    example: {
      response: {
        ...summary,
        rulesetId: ID,
        rulesetName: 'default',
        rulesetVersion: 1,
        scannedAt: AT,
        matches: [],
        fileType: null,
        analysis: null,
      },
    },
  },
  'POST /v1/samples/:sha256/rescan': {
    summary: 'Scan the sample again with the active ruleset',
    tag: 'samples',
    status: 202,
    response: RescanQueued,
    errors: ['NOT_FOUND', 'QUEUE_UNAVAILABLE'],
    example: { response: { sha256: SHA, jobId: `scan-rescan-${SHA}` } },
  },
  'GET /v1/samples/:sha256/submissions': {
    summary:
      'Sightings of a sample, newest first (submitters as pseudonyms); `source` keeps uploads or lookups',
    tag: 'samples',
    status: 200,
    response: SightingPage,
    query: SightingsQuery,
    errors: ['NOT_FOUND'],
    example: {
      response: {
        items: [
          {
            id: ID,
            receivedAt: AT,
            kind: 'file',
            source: 'upload',
            metadata: {},
            filename: 'eicar.com',
            submitter: PSEUDONYM,
            country: 'DE',
            productVersion: 'Acme Agent 4.2',
          },
        ],
        nextCursor: null,
      },
    },
  },
  'GET /v1/samples/:sha256/scans': {
    summary: 'Scan history of a sample, newest first',
    tag: 'samples',
    status: 200,
    response: ScanPage,
    query: PageQuery,
    errors: ['NOT_FOUND'],
    example: {
      response: {
        items: [
          {
            id: ID,
            ruleset: { name: 'default', version: 1 },
            status: 'scanned',
            verdict: 'malicious',
            durationMs: 3,
            startedAt: AT,
            finishedAt: AT,
            matches: [],
          },
        ],
        nextCursor: null,
      },
    },
  },
  'GET /v1/samples/:sha256/preview': {
    summary: 'Hex and ASCII dump of a window of the sample (at most 64 KiB)',
    tag: 'samples',
    status: 200,
    response: PreviewView,
    query: PreviewQuery,
    errors: ['NOT_FOUND', 'STORAGE_UNAVAILABLE'],
    example: {
      request: { offset: 0, length: 16 },
      response: {
        offset: 0,
        length: 16,
        size: 68,
        rows: [
          { offset: 0, hex: '58 35 4f 21 50 25 40 41 50 5b 34 5c 50 5a 58 35', ascii: 'X5O!P%@AP[4\\PZX5' },
        ],
      },
    },
  },
  'GET /v1/samples/:sha256/download': {
    summary: 'The sample in an AES-256 ZIP (password DOWNLOAD_ZIP_PASSWORD), as an attachment; audited',
    tag: 'samples',
    status: 200,
    produces: 'application/zip',
    errors: ['NOT_FOUND', 'AUDIT_UNAVAILABLE', 'STORAGE_UNAVAILABLE'],
    example: {},
  },
  'HEAD /v1/samples/:sha256/download': {
    summary:
      "The download's headers (Content-Length of the archive among them) without reading the sample or writing an audit record",
    tag: 'samples',
    status: 200,
    emptyBody: true,
    errors: ['NOT_FOUND'],
    example: {},
  },
  'POST /v1/rulesets': {
    summary:
      'Create version N+1 of a ruleset, in staging; rules that do not compile are quarantined and listed with their line (400 VALIDATION_FAILED when none compiles, or when the compile passes RULES_COMPILE_TIMEOUT_MS or RULES_COMPILE_MAX_MB)',
    tag: 'rulesets',
    status: 201,
    response: RulesetCreated,
    body: CreateRulesetRequest,
    example: {
      request: { name: 'default', source: 'rule demo { condition: true }' },
      response: {
        id: ruleset.id,
        name: ruleset.name,
        version: ruleset.version,
        status: ruleset.status,
        ruleCount: ruleset.ruleCount,
        quarantined: ruleset.quarantined,
        diagnostics: [],
      },
    },
  },
  'GET /v1/rulesets': {
    summary: 'The newest 500 ruleset versions',
    tag: 'rulesets',
    status: 200,
    response: z.array(RulesetSummaryView),
    example: { response: [ruleset] },
  },
  'GET /v1/rulesets/:id': {
    summary: 'One ruleset version with its source, diagnostics and rule states',
    tag: 'rulesets',
    status: 200,
    response: RulesetView,
    errors: ['NOT_FOUND'],
    example: {
      response: {
        ...ruleset,
        source: 'rule demo { condition: true }\nrule noisy_one { condition: filesize > 0 }',
        diagnostics: [],
        rules: [
          { name: 'demo', state: 'enabled' },
          {
            name: 'noisy_one',
            state: 'noisy',
            changedBy: { id: ID, name: 'analyst-1' },
            changedAt: AT,
          },
        ],
      },
    },
  },
  'POST /v1/rulesets/:id/activate': {
    summary:
      'Make a version active (the previous one becomes disabled); optional body `{retroscan: true}` queues a ' +
      'low-priority rescan of every retained sample with it',
    tag: 'rulesets',
    status: 200,
    response: RulesetSummaryView,
    body: ActivateRulesetRequest,
    errors: ['NOT_FOUND', 'CONFLICT'],
    example: { request: { retroscan: true }, response: { ...ruleset, status: 'active' } },
  },
  'PATCH /v1/rulesets/:id/rules/:rule': {
    summary:
      'Set one rule of a version enabled, disabled or noisy; with `rescan: true` (active version) also queue a ' +
      'low-priority rescan of the samples whose verdict that can move',
    tag: 'rulesets',
    status: 200,
    response: RuleStateChanged,
    body: SetRuleStateRequest,
    errors: ['NOT_FOUND', 'CONFLICT'],
    example: {
      request: { state: 'disabled', rescan: true },
      response: {
        name: 'demo',
        state: 'disabled',
        rescan: { jobId: `retroscan-${ID}-1795000000000-rule-demo-start`, allSamples: false },
      },
    },
  },
  'POST /v1/tokens': {
    summary: 'Create an API token (shown once)',
    tag: 'access',
    status: 201,
    response: TokenCreated,
    body: CreateTokenRequest,
    example: {
      request: { name: 'analyst-1', role: 'analyst' },
      response: { id: ID, name: 'analyst-1', role: 'analyst', token: 'spk_…' },
    },
  },
  'GET /v1/tokens': {
    summary:
      "People's API tokens, newest first (never the tokens themselves; agents' keys are under /v1/agents)",
    tag: 'access',
    status: 200,
    response: TokenList,
    example: {
      response: {
        items: [
          { id: ID, name: 'analyst-1', role: 'analyst', createdAt: AT, createdBy: ID, revokedAt: null },
        ],
      },
    },
  },
  'POST /v1/tokens/:id/revoke': {
    summary:
      "Revoke a person's API token at once on every replica (idempotent; an agent's key or the last admin token: 409)",
    tag: 'access',
    status: 200,
    response: TokenView,
    errors: ['NOT_FOUND', 'CONFLICT'],
    example: {
      response: { id: ID, name: 'analyst-1', role: 'analyst', createdAt: AT, createdBy: ID, revokedAt: AT },
    },
  },
  'POST /v1/enrollment-tokens': {
    summary: 'Create an enrollment token for agents (shown once)',
    tag: 'agents',
    status: 201,
    response: EnrollmentTokenCreated,
    body: CreateEnrollmentTokenRequest,
    example: {
      request: { name: 'fleet', ttlSeconds: 86400, maxUses: 100 },
      response: { id: ID, name: 'fleet', expiresAt: AT, maxUses: 100, token: 'spe_…' },
    },
  },
  'GET /v1/enrollment-tokens': {
    summary: 'Enrollment tokens, newest first, with their uses (never the tokens themselves)',
    tag: 'agents',
    status: 200,
    response: EnrollmentTokenList,
    example: {
      response: {
        items: [
          {
            id: ID,
            name: 'fleet',
            expiresAt: AT,
            maxUses: 100,
            uses: 3,
            createdAt: AT,
            createdBy: ID,
            revokedAt: null,
          },
        ],
      },
    },
  },
  'POST /v1/enrollment-tokens/:id/revoke': {
    summary: 'Revoke an enrollment token',
    tag: 'agents',
    status: 200,
    response: EnrollmentTokenRevoked,
    errors: ['NOT_FOUND'],
    example: { response: { id: ID, revokedAt: AT } },
  },
  'POST /v1/agents/enroll': {
    summary: 'Enroll an agent with an enrollment token (no bearer token)',
    tag: 'agents',
    status: 201,
    response: Enrolled,
    body: EnrollRequest,
    errors: ['UNAUTHENTICATED'],
    example: {
      request: {
        enrollmentToken: 'spe_…',
        product: { name: 'demo', version: '1.0' },
        os: { family: 'linux', version: '6.1' },
        country: 'DE',
      },
      response: { agentId: ID, apiKey: 'spa_…' },
    },
  },
  'GET /v1/me': {
    summary: "The caller: its token's id, name and role, and the routes that role may call",
    tag: 'access',
    status: 200,
    response: WhoAmIView,
    example: {
      response: {
        tokenId: ID,
        name: 'analyst-1',
        role: 'analyst',
        agentId: null,
        permissions: ['GET /v1/me', 'GET /v1/samples', 'GET /v1/samples/{sha256}'],
        downloadPassword: 'infected',
      },
    },
  },
  'GET /v1/queues': {
    summary: 'Depth and oldest job age of each job state per queue, and the scanner workers connected to it',
    tag: 'operations',
    status: 200,
    response: QueuesView,
    errors: ['QUEUE_UNAVAILABLE'],
    example: {
      response: {
        queues: [
          {
            name: 'scan',
            workers: 1,
            states: [
              { state: 'waiting', depth: 3, oldestAgeSeconds: 1.5 },
              { state: 'active', depth: 1, oldestAgeSeconds: 0.2 },
            ],
          },
        ],
      },
    },
  },
  'GET /v1/agents': {
    summary: 'Agents in id order',
    tag: 'agents',
    status: 200,
    response: AgentPage,
    query: ListAgentsQuery,
    example: { response: { items: [{ ...agent, revokedAt: null }], next: null } },
  },
  'POST /v1/agents/:id/revoke': {
    summary: "Revoke an agent's key",
    tag: 'agents',
    status: 200,
    response: AgentView,
    errors: ['NOT_FOUND'],
    example: { response: agent },
  },
  'POST /v1/agents/:id/withdraw': {
    summary: "Withdraw an agent's consent on its behalf (it may be revoked): its data is purged",
    tag: 'agents',
    status: 200,
    response: ConsentView,
    errors: ['NOT_FOUND'],
    example: {
      response: { agentId: ID, participating: false, statementVersion: '2026-01', changedAt: AT },
    },
  },
  'PUT /v1/agents/me/consent': {
    summary: "Give or withdraw the calling agent's consent",
    tag: 'agents',
    status: 200,
    response: ConsentView,
    body: ConsentRequest,
    errors: ['RATE_LIMITED'],
    example: {
      request: { participating: true, statementVersion: '2026-01' },
      response: { agentId: ID, participating: true, statementVersion: '2026-01', changedAt: AT },
    },
  },
  'POST /v1/lookups': {
    summary: 'Hash-first lookups: is a sample known, is it wanted (consent needed)',
    tag: 'ingest',
    status: 200,
    response: LookupResponse,
    body: LookupRequest,
    errors: ['CONSENT_REQUIRED', 'RATE_LIMITED'],
    example: {
      request: { items: [{ sha256: SHA }] },
      response: { items: [{ sha256: SHA, known: true, wanted: false, verdict: 'malicious' }] },
    },
  },
  'GET /v1/audit': {
    summary: 'The audit log, newest first',
    tag: 'audit',
    status: 200,
    response: AuditPage,
    query: AuditQuery,
    example: {
      response: {
        items: [
          {
            id: 1,
            at: AT,
            actorId: ID,
            actorName: 'analyst-1',
            action: 'sample.download',
            targetType: 'sample',
            targetId: SHA,
            details: {},
          },
        ],
        nextCursor: null,
      },
    },
  },
  'OPTIONS /v1/uploads': {
    summary:
      'tus 1.0.0 discovery (no token needed): 204 with `Tus-Version`, `Tus-Extension`, `Tus-Max-Size` ' +
      'and `Tus-Checksum-Algorithm`',
    tag: 'ingest',
    status: 204,
    errors: [],
    emptyBody: true,
    example: {},
  },
  'HEAD /v1/uploads/:id': {
    summary:
      "tus 1.0.0: the state of the caller's own upload: 200 with `Upload-Offset`, `Upload-Length`, " +
      '`Upload-Metadata` and `Upload-Expires` (and `Cache-Control: no-store`); where to resume; once ' +
      'finished also `Specimen-Submission-Id`, `Specimen-Sha256` and `Specimen-Duplicate`',
    tag: 'ingest',
    status: 200,
    errors: [
      'TUS_VERSION_UNSUPPORTED',
      'UPLOAD_EXPIRED',
      'UPLOAD_LOCKED',
      'CONSENT_REQUIRED',
      'RATE_LIMITED',
    ],
    emptyBody: true,
    example: {},
  },
  'POST /v1/uploads': {
    summary:
      'tus 1.0.0 creation: `Tus-Resumable: 1.0.0`, `Upload-Length` and `Upload-Metadata` whose `metadata` ' +
      "key is the submission metadata (base64 JSON; other keys, such as a client's `filename`, at most 4,096 " +
      'characters with their values together); no body. 201 with `Location` and `Upload-Expires`',
    tag: 'ingest',
    status: 201,
    errors: [
      'TUS_VERSION_UNSUPPORTED',
      'EMPTY_FILE',
      'FILE_TOO_LARGE',
      'SIZE_MISMATCH',
      'CONSENT_REQUIRED',
      'RATE_LIMITED',
      'BACKPRESSURE',
    ],
    emptyBody: true,
    example: {},
  },
  'PATCH /v1/uploads/:id': {
    summary:
      'tus 1.0.0: append a chunk (`application/offset+octet-stream`, `Upload-Offset`, optional ' +
      "`Upload-Checksum: sha1|sha256 <base64>`) to the caller's own upload; 204 with the new " +
      '`Upload-Offset`, and `Specimen-Submission-Id`/`Specimen-Sha256`/`Specimen-Duplicate` once the last ' +
      'byte is in',
    tag: 'ingest',
    status: 204,
    errors: [
      'TUS_VERSION_UNSUPPORTED',
      'VALIDATION_FAILED',
      'UNSUPPORTED_MEDIA_TYPE',
      'OFFSET_MISMATCH',
      'UPLOAD_EXPIRED',
      'UPLOAD_LOCKED',
      'FILE_TOO_LARGE',
      'UPLOAD_CHECKSUM_MISMATCH',
      'CHECKSUM_MISMATCH',
      'SIZE_MISMATCH',
      'CONSENT_REQUIRED',
      'RATE_LIMITED',
      'BACKPRESSURE',
      'CLIENT_CLOSED_REQUEST',
      'STORAGE_UNAVAILABLE',
    ],
    emptyBody: true,
    example: {},
  },
  'DELETE /v1/uploads/:id': {
    summary: "tus 1.0.0 termination: drop the caller's own unfinished upload and its stored parts",
    tag: 'ingest',
    status: 204,
    errors: ['TUS_VERSION_UNSUPPORTED', 'UPLOAD_EXPIRED', 'CONFLICT', 'CONSENT_REQUIRED', 'RATE_LIMITED'],
    emptyBody: true,
    example: {},
  },
  'POST /v1/retrohunts': {
    summary:
      'Run YARA rules over every retained sample (400 VALIDATION_FAILED with the diagnostics when any rule does not compile: a hunt runs all its rules or none; also when the compile passes RULES_COMPILE_TIMEOUT_MS or RULES_COMPILE_MAX_MB); audited',
    tag: 'retrohunts',
    status: 201,
    response: RetrohuntSummaryView,
    body: CreateRetrohuntRequest,
    example: {
      request: { source: 'rule demo { strings: $a = "X5O!P%@AP" condition: $a }' },
      response: {
        ...retrohunt,
        status: 'queued',
        progress: { scanned: 0, timedOut: 0, total: 480, bytes: 0 },
        matchCount: 0,
        startedAt: null,
      },
    },
  },
  'GET /v1/retrohunts': {
    summary: 'The newest 200 retrohunts',
    tag: 'retrohunts',
    status: 200,
    response: z.array(RetrohuntSummaryView),
    example: { response: [retrohunt] },
  },
  'GET /v1/retrohunts/:id': {
    summary:
      'A retrohunt with its source (left out with source=false, for following its progress) and a page of its matches, in the order they were found',
    tag: 'retrohunts',
    status: 200,
    response: RetrohuntView,
    query: RetrohuntMatchesQuery,
    example: {
      request: { limit: 50 },
      response: {
        ...retrohunt,
        source: 'rule demo { strings: $a = "X5O!P%@AP" condition: $a }',
        matches: [
          {
            sha256: SHA,
            rule: 'demo',
            namespace: 'retrohunt',
            tags: [],
            meta: {},
            strings: [{ identifier: '$a', offset: 0, length: 9 }],
          },
        ],
        nextCursor: null,
      },
    },
  },
  'POST /v1/retrohunts/:id/cancel': {
    summary: 'Stop a queued or running retrohunt (matches found so far stay); audited',
    tag: 'retrohunts',
    status: 200,
    response: RetrohuntSummaryView,
    errors: ['CONFLICT'],
    example: { response: { ...retrohunt, status: 'cancelled', finishedAt: AT } },
  },
  'GET /v1/admin/jobs/failed': {
    summary: 'Failed jobs of one queue, most recently failed first (payloads are ids only)',
    tag: 'operations',
    status: 200,
    response: z.array(FailedJobView),
    query: FailedJobsQuery,
    errors: ['QUEUE_UNAVAILABLE'],
    example: {
      request: { queue: 'scan', limit: 50 },
      response: [
        {
          id: `scan-${SHA}`,
          name: 'scan-sample',
          data: { sha256: SHA, submissionId: ID },
          failedReason: 'the sample could not be read from storage',
          attemptsMade: 5,
          failedAt: AT,
          createdAt: AT,
        },
      ],
    },
  },
  'POST /v1/admin/jobs/failed/replay': {
    summary: 'Replay the given failed jobs of a queue, or all of them; audited first',
    tag: 'operations',
    status: 200,
    response: ReplayedJobsView,
    body: ReplayFailedJobsRequest,
    // 409 for the retrohunt queue: a failed retrohunt is started again with its source.
    errors: ['QUEUE_UNAVAILABLE', 'CONFLICT'],
    example: {
      request: { queue: 'scan', ids: [`scan-${SHA}`] },
      response: { queue: 'scan', replayed: [`scan-${SHA}`], notFailed: [] },
    },
  },
  'GET /v1/stats/overview': {
    summary:
      'k-anonymous totals over UTC days (the last 30 by default): by kind, verdict, country, product version, top rules',
    tag: 'statistics',
    status: 200,
    response: StatsOverviewView,
    query: StatsOverviewQuery,
    example: {
      request: { from: '2026-01-01', to: '2026-01-31' },
      response: {
        from: '2026-01-01',
        to: '2026-01-31',
        k: 5,
        total: 1200,
        byKind: [
          { value: 'file', submissions: 1150 },
          { value: 'memory-region', submissions: 50 },
        ],
        byVerdict: [
          { value: 'clean', submissions: 1000 },
          { value: 'malicious', submissions: 200 },
        ],
        byCountry: [
          { value: 'DE', submissions: 700 },
          { value: '(other)', submissions: 500 },
        ],
        byProductVersion: [{ value: 'demo 1.0', submissions: 1200 }],
        topRules: [{ value: 'demo', submissions: 200 }],
      },
    },
  },
  'GET /v1/stats/series': {
    summary: 'k-anonymous daily series grouped by kind, verdict, country, product version or rule',
    tag: 'statistics',
    status: 200,
    response: StatsSeriesView,
    query: StatsSeriesQuery,
    example: {
      request: { groupBy: 'verdict', from: '2026-01-01', to: '2026-01-02' },
      response: {
        groupBy: 'verdict',
        interval: 'day',
        from: '2026-01-01',
        to: '2026-01-02',
        k: 5,
        points: [
          {
            date: '2026-01-01',
            total: 40,
            cells: [
              { value: 'clean', submissions: 33 },
              { value: 'malicious', submissions: 7 },
            ],
          },
        ],
      },
    },
  },
  'POST /v1/admin/retention/sweep': {
    summary: 'Queue a retention sweep now (besides the scheduled ones); the sweep audits what it removes',
    tag: 'operations',
    status: 202,
    response: MaintenanceQueued,
    errors: ['QUEUE_UNAVAILABLE'],
    example: { response: { jobId: 'retention-sweep-manual-1767268800000' } },
  },
  'POST /v1/admin/stats/rollup': {
    summary: 'Queue a roll-up of the daily statistics now',
    tag: 'operations',
    status: 202,
    response: MaintenanceQueued,
    errors: ['QUEUE_UNAVAILABLE'],
    example: { response: { jobId: 'stats-rollup-manual-1767268800000' } },
  },
};

/**
 * Request schemas named in `components.schemas`: the upload's metadata part refers to SubmissionMetadata;
 * LookupItem is what each lookup item must be (the body's schema cannot say it: items are checked one by one).
 */
export const NAMED_SCHEMAS: Record<string, z.ZodType> = { SubmissionMetadata, LookupItem };

/**
 * Response schemas named in `components.schemas` by their TypeScript names (what a client generator calls
 * them): wherever one appears in an answer, the document refers to it with `$ref`. Each name must be its
 * own: two routes answering the same view share its component.
 */
export const NAMED_RESPONSES: Record<string, z.ZodType> = {
  AgentPage,
  AgentView,
  AnalysisResult,
  ApiDocument,
  AuditPage,
  AuditView,
  ConsentView,
  Enrolled,
  EnrollmentTokenCreated,
  EnrollmentTokenList,
  EnrollmentTokenRevoked,
  EnrollmentTokenView,
  FailedJobView,
  LivenessView,
  LookupResponse,
  LookupResult,
  MaintenanceQueued,
  MatchView,
  PreviewView,
  QueuesView,
  ReadinessView,
  ReplayedJobsView,
  RescanQueued,
  RetrohuntSummaryView,
  RetrohuntView,
  RuleDiagnosticView,
  RuleStateChanged,
  RulesetCreated,
  RulesetSummaryView,
  RulesetView,
  SamplePage,
  SampleSummary,
  SampleView,
  ScanPage,
  ScanView,
  SightingPage,
  SightingView,
  StatsCellView,
  StatsOverviewView,
  StatsSeriesView,
  SubmissionCreated,
  SubmissionView,
  TokenCreated,
  TokenList,
  TokenView,
  WhoAmIView,
};
