import type {
  ConsentRequest,
  ConsentView,
  EnrollRequest,
  Enrolled,
  ErrorCode,
  LookupItem,
  LookupResponse,
  SubmissionCreated,
  SubmissionMetadata,
  SubmissionView,
  WhoAmIView,
} from '#contracts';

/** An error answer of the service (or a transport failure, with status 0 and code `NETWORK`). */
export class SpecimenClientError extends Error {
  override readonly name = 'SpecimenClientError';
  constructor(
    readonly status: number,
    readonly code: ErrorCode | 'NETWORK' | 'UNKNOWN',
    message: string,
    readonly details?: Record<string, unknown>,
    readonly retryAfterSeconds?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** When and how often a refused request (429, 503, a network failure) is sent again. */
export interface RetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  /** Base of the exponential backoff when the service gives no `Retry-After`. */
  baseDelayMs: number;
  /** Upper bound of one wait, `Retry-After` included. */
  maxDelayMs: number;
}

export interface ClientOptions {
  /** The service's base URL, e.g. `https://specimen.example`. */
  baseUrl: string;
  /** Bearer token: an agent's API key or a person's token. */
  token?: string;
  retry?: Partial<RetryPolicy>;
  /** Called before each wait between attempts (progress output, tests). */
  onRetry?: (info: { attempt: number; delayMs: number; status: number; code: string }) => void;
  /** Injected for tests; the global fetch otherwise. */
  fetch?: typeof fetch;
  /** Injected for tests; setTimeout otherwise. */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Answers that say "later": 423 is the tus upload whose finish runs elsewhere or failed for a passing reason
 * (storage, database), which the service asks clients to retry; it failed the item, which a later run sent.
 */
const RETRYABLE = new Set([423, 429, 502, 503, 504]);
const DEFAULT_RETRY: RetryPolicy = { attempts: 6, baseDelayMs: 500, maxDelayMs: 120_000 };

/**
 * The wait before attempt `attempt + 1`: the service's `Retry-After` when it gave one, else exponential
 * backoff; plus up to 20 % jitter so many agents refused at once do not all come back at once.
 */
export function retryDelayMs(
  policy: RetryPolicy,
  attempt: number,
  retryAfterSeconds: number | undefined,
  random: () => number = Math.random,
): number {
  const base =
    retryAfterSeconds !== undefined ? retryAfterSeconds * 1000 : policy.baseDelayMs * 2 ** (attempt - 1);
  return Math.min(policy.maxDelayMs, Math.round(base * (1 + 0.2 * random())));
}

function parseRetryAfter(value: string | null): number | undefined {
  if (value === null) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

async function errorOf(res: Response): Promise<SpecimenClientError> {
  const retryAfter = parseRetryAfter(res.headers.get('retry-after'));
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    // HEAD answers and proxies' pages carry no JSON error.
  }
  const error = (
    body as { error?: { code?: ErrorCode; message?: string; details?: Record<string, unknown> } }
  )?.error;
  return new SpecimenClientError(
    res.status,
    error?.code ?? 'UNKNOWN',
    error?.message ?? notFromTheService(res.status),
    error?.details,
    retryAfter,
  );
}

/** What an answer without Specimen's JSON error means: usually a proxy or a gateway in between. */
function notFromTheService(status: number): string {
  if (status === 502 || status === 504) {
    return `HTTP ${status}: a proxy or gateway in front of the service got no answer from it (is it running?)`;
  }
  if (status === 503) return 'HTTP 503: unavailable, and not an answer of the service itself';
  return `HTTP ${status}, without an error of the service (a proxy in between?)`;
}

/** Node's error codes for an unreachable service, in words. */
const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused (is the service running, and is this its address?)',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name could not be looked up',
  ECONNRESET: 'the connection was reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
};

/**
 * Why a request got no answer: "cannot reach" alone read the same for a service that is down, a wrong
 * host name and a service that stopped answering. fetch wraps the system's error as its `cause`.
 */
function networkReason(e: unknown): string {
  const error = e instanceof Error && e.cause instanceof Error ? e.cause : e;
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  return (typeof code === 'string' ? NETWORK_REASONS[code] : undefined) ?? error.message;
}

/** A request as {@link SpecimenClient.send} takes it; `body` is a factory so a retry sends it afresh. */
export interface SendOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: () => NonNullable<RequestInit['body']>;
  /** Statuses returned as they are instead of thrown (tus answers such as 409 the caller handles). */
  accept?: number[];
}

/**
 * A small typed client of the Specimen API, built on the schemas' types in `#contracts`. Browser-safe
 * (fetch and Web Crypto only), so the agent CLI and the console share it.
 */
export class SpecimenClient {
  readonly baseUrl: string;
  private readonly retry: RetryPolicy;
  private readonly fetchImpl: typeof fetch;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly options: ClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** A client for the same service with another token (after enrollment). */
  withToken(token: string): SpecimenClient {
    return new SpecimenClient({ ...this.options, token });
  }

  /**
   * Absolute URL of a path or of a `Location` the service answered with. A path from the root (`/v1/…`) is
   * under the base URL's own path: a service behind a proxy at `https://host/specimen` answers at
   * `https://host/specimen/v1/…` (URL resolution would have dropped `/specimen`).
   */
  url(pathOrUrl: string): string {
    if (pathOrUrl.startsWith('/') && !pathOrUrl.startsWith('//'))
      return new URL(`${this.baseUrl}${pathOrUrl}`).href;
    return new URL(pathOrUrl, `${this.baseUrl}/`).href;
  }

  /**
   * Sends a request, retrying 423/429/502/503/504 and network failures per the retry policy (honouring
   * `Retry-After`). Other error statuses throw {@link SpecimenClientError}.
   */
  async send(path: string, init: SendOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { ...init.headers };
    if (this.options.token !== undefined) headers.authorization = `Bearer ${this.options.token}`;
    for (let attempt = 1; ; attempt++) {
      let failure: SpecimenClientError;
      try {
        const res = await this.fetchImpl(this.url(path), {
          method: init.method ?? 'GET',
          headers,
          ...(init.body === undefined ? {} : { body: init.body(), duplex: 'half' }),
        });
        if (res.ok || init.accept?.includes(res.status) === true) return res;
        failure = await errorOf(res);
        if (!RETRYABLE.has(res.status)) throw failure;
      } catch (e) {
        if (e instanceof SpecimenClientError && !RETRYABLE.has(e.status)) throw e;
        failure =
          e instanceof SpecimenClientError
            ? e
            : new SpecimenClientError(
                0,
                'NETWORK',
                `cannot reach ${this.baseUrl}: ${networkReason(e)}`,
                undefined,
                undefined,
                { cause: e },
              );
      }
      if (attempt >= this.retry.attempts) throw failure;
      const delayMs = retryDelayMs(this.retry, attempt, failure.retryAfterSeconds);
      this.options.onRetry?.({ attempt, delayMs, status: failure.status, code: failure.code });
      await this.sleep(delayMs);
    }
  }

  private async json<T>(path: string, method: string, body?: unknown): Promise<T> {
    const res = await this.send(path, {
      method,
      ...(body === undefined
        ? {}
        : { headers: { 'content-type': 'application/json' }, body: () => JSON.stringify(body) }),
    });
    return (await res.json()) as T;
  }

  enroll(request: EnrollRequest): Promise<Enrolled> {
    return this.json('/v1/agents/enroll', 'POST', request);
  }

  consent(request: ConsentRequest): Promise<ConsentView> {
    return this.json('/v1/agents/me/consent', 'PUT', request);
  }

  lookup(items: Array<Pick<LookupItem, 'sha256'> & Partial<LookupItem>>): Promise<LookupResponse> {
    return this.json('/v1/lookups', 'POST', { items });
  }

  /** Who the key is: a Specimen service answers it for any valid key. */
  me(): Promise<WhoAmIView> {
    return this.json('/v1/me', 'GET');
  }

  submission(id: string): Promise<SubmissionView> {
    return this.json(`/v1/submissions/${encodeURIComponent(id)}`, 'GET');
  }

  /**
   * The multipart path: the metadata part, then the file part. `file` is called again for a retry. Every
   * attempt carries the same `Idempotency-Key` (a random UUID unless `idempotencyKey` is given): a retry after
   * an answer lost on the way (the service had recorded the upload) gets that submission again instead of
   * recording a second sighting.
   */
  async submit(
    metadata: SubmissionMetadata,
    file: () => Blob,
    options: { idempotencyKey?: string } = {},
  ): Promise<SubmissionCreated> {
    const res = await this.send('/v1/submissions', {
      method: 'POST',
      headers: { 'idempotency-key': options.idempotencyKey ?? crypto.randomUUID() },
      body: () => {
        const form = new FormData();
        form.append('metadata', JSON.stringify(metadata));
        form.append('file', file(), 'upload.bin');
        return form;
      },
    });
    return (await res.json()) as SubmissionCreated;
  }
}
