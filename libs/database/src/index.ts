export type { StoredDiagnostic } from './schema.js';
export { Batcher } from './batcher.js';
export { uuidV7 } from './uuid7.js';
export { Database, ensureDatabase, runMigrations, toDatabaseError, type Executor } from './database.js';
export {
  AuditRepository,
  type AuditEntry,
  type AuditFilter,
  type AuditRecord,
} from './repositories/audit.repository.js';
export {
  AgentsRepository,
  type AgentRecord,
  type ConsentChange,
  type EnrollmentRefusal,
  type EnrollmentTokenRecord,
  type NewAgent,
} from './repositories/agents.repository.js';
export { DatabaseModule } from './database.module.js';
export { OutboxRepository, type OutboxJob, type OutboxRecord } from './repositories/outbox.repository.js';
export {
  RetrohuntsRepository,
  type BatchSample,
  type RetrohuntBatchResult,
  type RetrohuntTotals,
  type RetrohuntMatchRecord,
  type RetrohuntRecord,
  type RetrohuntSummaryRecord,
} from './repositories/retrohunts.repository.js';
export {
  RetroscansRepository,
  type CoveredSample,
  type RetroscanRecord,
} from './repositories/retroscans.repository.js';
export {
  RulesetsRepository,
  type CreateRulesetInput,
  type RuleState,
  type RulesetDetail,
  type RulesetRecord,
  type RulesetStatus,
  type RulesetSummary,
} from './repositories/rulesets.repository.js';
export {
  SamplesRepository,
  type KeysetPage,
  type KeysetPosition,
  type LatestScan,
  type MatchRecord,
  type SampleRecord,
  type SampleObject,
  type ScanTarget,
  type SampleSummaryRecord,
  type SampleSearch,
  type ScanRecord,
  type SightingRecord,
} from './repositories/samples.repository.js';
export {
  OTHER,
  STATS_DIMENSIONS,
  StewardshipRepository,
  type BatchOutcome,
  type StatsCell,
  type StatsDimension,
} from './repositories/stewardship.repository.js';
export { ScansRepository, type RecordScanInput } from './repositories/scans.repository.js';
export {
  SubmissionsRepository,
  type LookupRead,
  type LookupSample,
  type SightingBatch,
  type RecordSubmissionInput,
  type RecordedSubmission,
  type SubmissionRecord,
  type StrandedCursor,
  type Submitter,
} from './repositories/submissions.repository.js';
export {
  TokensRepository,
  type ActiveToken,
  type PersonToken,
  type TokenRecord,
} from './repositories/tokens.repository.js';
export { UploadsRepository, type UploadPart, type UploadRecord } from './repositories/uploads.repository.js';
