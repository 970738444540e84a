/** Queue names. Payloads carry ids only, never bytes or secrets. */
export enum QueueName {
  Scan = 'scan',
  Retrohunt = 'retrohunt',
  Maintenance = 'maintenance',
}

export enum JobName {
  ScanSample = 'scan-sample',
  OutboxRedrive = 'outbox-redrive',
}

export interface ScanSampleJob {
  sha256: string;
  /** The submission that caused this scan, if any (a rescan has none). */
  submissionId?: string;
}

export interface OutboxRedriveJob {
  /** Only rows older than this many milliseconds are re-driven, so fresh ones are left to the producer. */
  olderThanMs: number;
}

/** Name and payload together, so a handler can never receive the wrong payload. */
export type JobItem =
  | { queue: QueueName.Scan; name: JobName.ScanSample; data: ScanSampleJob }
  | { queue: QueueName.Maintenance; name: JobName.OutboxRedrive; data: OutboxRedriveJob };
