import { SpecimenClient, SpecimenClientError } from '#client';
import type {
  AgentPage,
  AgentView,
  AuditView,
  EnrollmentTokenCreated,
  EnrollmentTokenView,
  Page,
  PreviewView,
  QueuesView,
  RescanQueued,
  RetrohuntSummaryView,
  RetrohuntView,
  Role,
  RuleState,
  RuleStateChanged,
  RulesetCreated,
  RulesetSummaryView,
  RulesetView,
  SampleSummary,
  SampleView,
  ScanView,
  SightingView,
  StatsGroup,
  StatsOverviewView,
  StatsSeriesView,
  TokenCreated,
  TokenView,
  WhoAmIView,
} from '#contracts';

export { SpecimenClientError };

export interface ApiOptions {
  token: string;
  /** The API's origin: the page's own in the browser (the console is served by the API). */
  baseUrl: string;
  /** Called when the service says the token is unknown or revoked (the console signs out). */
  onUnauthenticated?: () => void;
  fetch?: typeof fetch;
}

export interface Download {
  blob: Blob;
  filename: string;
}

type Query = Record<string, string | number | undefined | null>;

const qs = (query: Query): string => {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query))
    if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  const s = params.toString();
  return s === '' ? '' : `?${s}`;
};
const seg = encodeURIComponent;

/**
 * The console's view of the API, built on the shared typed client in libs/client: a person waits at the
 * screen, so a refused request is tried at most twice and never waits long.
 */
export class ConsoleApi {
  private readonly client: SpecimenClient;

  constructor(private readonly options: ApiOptions) {
    this.client = new SpecimenClient({
      baseUrl: options.baseUrl,
      token: options.token,
      retry: { attempts: 2, baseDelayMs: 300, maxDelayMs: 3000 },
      ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    });
  }

  private async call(path: string, method: string, body?: unknown): Promise<Response> {
    try {
      return await this.client.send(path, {
        method,
        ...(body === undefined
          ? {}
          : { headers: { 'content-type': 'application/json' }, body: () => JSON.stringify(body) }),
      });
    } catch (e) {
      if (e instanceof SpecimenClientError && e.status === 401) this.options.onUnauthenticated?.();
      throw e;
    }
  }

  private async json<T>(path: string, method = 'GET', body?: unknown): Promise<T> {
    return (await (await this.call(path, method, body)).json()) as T;
  }

  me = (): Promise<WhoAmIView> => this.json('/v1/me');

  searchSamples = (query: Query): Promise<Page<SampleSummary>> => this.json(`/v1/samples${qs(query)}`);
  sample = (sha256: string): Promise<SampleView> => this.json(`/v1/samples/${seg(sha256)}`);
  sightings = (
    sha256: string,
    cursor?: string,
    source?: SightingView['source'],
  ): Promise<Page<SightingView>> =>
    this.json(`/v1/samples/${seg(sha256)}/submissions${qs({ cursor, limit: 20, source })}`);
  scans = (sha256: string, cursor?: string): Promise<Page<ScanView>> =>
    this.json(`/v1/samples/${seg(sha256)}/scans${qs({ cursor, limit: 20 })}`);
  preview = (sha256: string, offset: number, length: number): Promise<PreviewView> =>
    this.json(`/v1/samples/${seg(sha256)}/preview${qs({ offset, length })}`);
  rescan = (sha256: string): Promise<RescanQueued> => this.json(`/v1/samples/${seg(sha256)}/rescan`, 'POST');
  async download(sha256: string): Promise<Download> {
    const res = await this.call(`/v1/samples/${seg(sha256)}/download`, 'GET');
    const disposition = res.headers.get('content-disposition') ?? '';
    const filename = /filename="([^"]+)"/.exec(disposition)?.[1] ?? `${sha256}.zip`;
    return { blob: await res.blob(), filename };
  }

  rulesets = (): Promise<RulesetSummaryView[]> => this.json('/v1/rulesets');
  ruleset = (id: string): Promise<RulesetView> => this.json(`/v1/rulesets/${seg(id)}`);
  createRuleset = (name: string, source: string): Promise<RulesetCreated> =>
    this.json('/v1/rulesets', 'POST', { name, source });
  activate = (id: string, retroscan: boolean): Promise<RulesetSummaryView> =>
    this.json(`/v1/rulesets/${seg(id)}/activate`, 'POST', { retroscan });
  setRuleState = (id: string, rule: string, state: RuleState, rescan = false): Promise<RuleStateChanged> =>
    this.json(`/v1/rulesets/${seg(id)}/rules/${seg(rule)}`, 'PATCH', rescan ? { state, rescan } : { state });

  statsOverview = (from?: string, to?: string): Promise<StatsOverviewView> =>
    this.json(`/v1/stats/overview${qs({ from, to })}`);
  statsSeries = (groupBy: StatsGroup, from?: string, to?: string): Promise<StatsSeriesView> =>
    this.json(`/v1/stats/series${qs({ groupBy, from, to })}`);

  queues = (): Promise<QueuesView> => this.json('/v1/queues');

  retrohunts = (): Promise<RetrohuntSummaryView[]> => this.json('/v1/retrohunts');
  /** `withSource: false` leaves the rule text out (following progress: the text does not change). */
  retrohunt = (id: string, cursor?: string, withSource = true): Promise<RetrohuntView> =>
    this.json(`/v1/retrohunts/${seg(id)}${qs({ cursor, source: withSource ? undefined : 'false' })}`);
  createRetrohunt = (source: string): Promise<RetrohuntSummaryView> =>
    this.json('/v1/retrohunts', 'POST', { source });
  cancelRetrohunt = (id: string): Promise<RetrohuntSummaryView> =>
    this.json(`/v1/retrohunts/${seg(id)}/cancel`, 'POST');

  agents = (after?: string): Promise<AgentPage> => this.json(`/v1/agents${qs({ after })}`);
  revokeAgent = (id: string): Promise<AgentView> => this.json(`/v1/agents/${seg(id)}/revoke`, 'POST');
  createToken = (name: string, role: Role): Promise<TokenCreated> =>
    this.json('/v1/tokens', 'POST', { name, role });
  tokens = (): Promise<{ items: TokenView[] }> => this.json('/v1/tokens');
  revokeToken = (id: string): Promise<TokenView> => this.json(`/v1/tokens/${seg(id)}/revoke`, 'POST');
  createEnrollmentToken = (body: {
    name?: string;
    ttlSeconds: number;
    maxUses: number;
  }): Promise<EnrollmentTokenCreated> => this.json('/v1/enrollment-tokens', 'POST', body);
  enrollmentTokens = (): Promise<{ items: EnrollmentTokenView[] }> => this.json('/v1/enrollment-tokens');
  revokeEnrollmentToken = (id: string): Promise<{ id: string; revokedAt: string }> =>
    this.json(`/v1/enrollment-tokens/${seg(id)}/revoke`, 'POST');
  audit = (query: Query): Promise<Page<AuditView>> => this.json(`/v1/audit${qs(query)}`);
}

/** A message fit for the screen from any failure of a call. */
export function errorMessage(e: unknown): string {
  if (e instanceof SpecimenClientError) {
    if (e.status === 0) return 'The service cannot be reached.';
    // An answer that is not the service's (a proxy's page) says its status already.
    if (e.code === 'UNKNOWN') return e.message;
    return `${e.message} (${e.code}, HTTP ${e.status})`;
  }
  return e instanceof Error ? e.message : String(e);
}
