/**
 * Every error code the service can answer with, and its HTTP status. This table is the one place that
 * maps codes to statuses; services throw {@link SpecimenError} with a code and never an HTTP exception,
 * because the scanner runs the same code without HTTP.
 */
export const ERROR_STATUS = {
  VALIDATION_FAILED: 400,
  EMPTY_FILE: 400,
  MISSING_FILE: 400,
  UNEXPECTED_FIELD: 400,
  MALFORMED_BODY: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  CONSENT_REQUIRED: 403,
  NOT_FOUND: 404,
  /** A small JSON body that did not arrive within JSON_BODY_TIMEOUT_MS of its headers. */
  REQUEST_TIMEOUT: 408,
  OFFSET_MISMATCH: 409,
  CONFLICT: 409,
  /** A resumable upload whose expiry has passed (its parts are swept). */
  UPLOAD_EXPIRED: 410,
  /** A tus request without `Tus-Resumable: 1.0.0`. */
  TUS_VERSION_UNSUPPORTED: 412,
  /**
   * A resumable upload whose bytes are all in while its finish runs elsewhere, or failed for a passing
   * reason: ask again after `Retry-After` (tus clients retry a 423 instead of starting over).
   */
  UPLOAD_LOCKED: 423,
  FILE_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  CHECKSUM_MISMATCH: 422,
  SIZE_MISMATCH: 422,
  /**
   * An `Idempotency-Key` already used by this agent for an upload of other bytes or other metadata: a retry
   * must send what it sent the first time, and a new upload a new key.
   */
  IDEMPOTENCY_KEY_REUSED: 422,
  RATE_LIMITED: 429,
  /** tus checksum extension: the chunk did not match its `Upload-Checksum` and was discarded. */
  UPLOAD_CHECKSUM_MISMATCH: 460,
  CLIENT_CLOSED_REQUEST: 499,
  INTERNAL: 500,
  STORAGE_UNAVAILABLE: 503,
  DATABASE_UNAVAILABLE: 503,
  QUEUE_UNAVAILABLE: 503,
  BACKPRESSURE: 503,
  /** An audited action is refused because its audit record could not be written. */
  AUDIT_UNAVAILABLE: 503,
} as const satisfies Record<string, number>;

export type ErrorCode = keyof typeof ERROR_STATUS;
export const ERROR_CODES = Object.keys(ERROR_STATUS) as ErrorCode[];

export type ErrorDetails = Record<string, unknown>;

/** A domain error: a code from {@link ERROR_STATUS}, a message safe to show, optional details. */
export class SpecimenError extends Error {
  override readonly name = 'SpecimenError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: ErrorDetails,
    options?: { cause?: unknown; retryAfterSeconds?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }
  readonly retryAfterSeconds: number | undefined;

  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

export const isSpecimenError = (e: unknown): e is SpecimenError => e instanceof SpecimenError;
