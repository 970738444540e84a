import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { QueueName } from '#contracts';
import { EICAR, TestService, benign, fileMetadata, pollUntil, responseMismatch } from '#test-support';

type Who = 'none' | 'agent' | 'analyst' | 'admin';
const WHO: Who[] = ['none', 'agent', 'analyst', 'admin'];

/** Everything the rows need: the callers' tokens and resources they act on. */
interface Context {
  tokens: Record<Exclude<Who, 'none'>, string>;
  sha256: string;
  /** A submission of the agent's own, and one of somebody else's (the admin's). */
  ownSubmission: string;
  otherSubmission: string;
  activeRuleset: string;
  stagingForActivation: string;
  stagingForRules: string;
  enrollmentToken: string;
  service: TestService;
}

interface Call {
  path: string;
  body?: unknown;
  multipart?: FormData;
  /** Extra request headers (tus), with a raw body when `raw` is given. */
  headers?: Record<string, string>;
  raw?: Uint8Array;
}

interface Row {
  /** The route as the OpenAPI document names it. */
  route: string;
  /** What this row checks, when a route has several rows. */
  note?: string;
  call: (ctx: Context, who: Who) => Promise<Call> | Call;
  expect: Record<Who, number>;
}

const all = (status: number): Record<Who, number> => ({
  none: status,
  agent: status,
  analyst: status,
  admin: status,
});
const roles = (agent: number, analyst: number, admin: number): Record<Who, number> => ({
  none: 401,
  agent,
  analyst,
  admin,
});
const json = (body: unknown): RequestInit => ({
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

async function enrollmentToken(
  service: TestService,
  maxUses: number,
): Promise<{ id: string; token: string }> {
  const res = await service.request('/v1/enrollment-tokens', {
    method: 'POST',
    ...json({ ttlSeconds: 600, maxUses }),
  });
  assert.equal(res.status, 201, await res.clone().text());
  return (await res.json()) as { id: string; token: string };
}

/** A fresh analyst token's id (each revoke row revokes a token of its own). */
async function personToken(service: TestService): Promise<string> {
  const res = await service.request('/v1/tokens', {
    method: 'POST',
    ...json({ name: `to-revoke-${randomUUID()}`, role: 'analyst' }),
  });
  assert.equal(res.status, 201, await res.clone().text());
  return ((await res.json()) as { id: string }).id;
}

const ENROLL = { product: { name: 'matrix', version: '1' }, os: { family: 'linux', version: '6' } };

async function enrollAgent(
  service: TestService,
  token: string,
): Promise<{ agentId: string; apiKey: string }> {
  const res = await service.request('/v1/agents/enroll', {
    method: 'POST',
    token: null,
    ...json({ enrollmentToken: token, ...ENROLL }),
  });
  assert.equal(res.status, 201, await res.clone().text());
  return (await res.json()) as { agentId: string; apiKey: string };
}

async function createRuleset(service: TestService, name: string): Promise<string> {
  const res = await service.request('/v1/rulesets', {
    method: 'POST',
    ...json({ name, source: 'rule demo { condition: false }' }),
  });
  assert.equal(res.status, 201, await res.clone().text());
  return ((await res.json()) as { id: string }).id;
}

const TUS = { 'tus-resumable': '1.0.0' };

/** tus creation headers for `bytes`. */
const tusCreation = (bytes: Buffer): Record<string, string> => ({
  ...TUS,
  'upload-length': String(bytes.length),
  'upload-metadata': `metadata ${Buffer.from(JSON.stringify(fileMetadata(bytes))).toString('base64')}`,
});

/** A fresh tus upload of 512 bytes created with `token`; only that token may see it. */
async function createUpload(service: TestService, token: string): Promise<string> {
  const res = await service.request('/v1/uploads', {
    method: 'POST',
    token,
    headers: tusCreation(benign(512)),
  });
  assert.equal(res.status, 201, await res.clone().text());
  const location = res.headers.get('location');
  assert.ok(location !== null);
  return location;
}

/** The caller's own upload; callers that cannot create one (none, analyst) get the agent's. */
const ownUpload = (c: Context, who: Who): Promise<string> =>
  createUpload(c.service, who === 'agent' || who === 'admin' ? c.tokens[who] : c.tokens.agent);

const patchChunk = (path: string): Call => ({
  path,
  headers: { ...TUS, 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' },
  raw: benign(128),
});

async function createRetrohunt(service: TestService): Promise<string> {
  const res = await service.request('/v1/retrohunts', {
    method: 'POST',
    ...json({ source: 'rule hunt { condition: false }' }),
  });
  assert.equal(res.status, 201, await res.clone().text());
  return ((await res.json()) as { id: string }).id;
}

const upload = (): FormData => {
  const bytes = benign(512);
  const form = new FormData();
  form.append('metadata', JSON.stringify(fileMetadata(bytes)));
  form.append('file', new Blob([bytes]), 'x.bin');
  return form;
};

/**
 * Every route against no token, an enrolled and consenting agent, an analyst and an admin. Rows run in
 * order, each caller in the order of WHO; a row's `call` makes what it consumes (a fresh sample, agent or
 * enrollment token) so that every caller meets the same situation.
 */
const ROWS: Row[] = [
  { route: 'GET /health/live', call: () => ({ path: '/health/live' }), expect: all(200) },
  { route: 'GET /health/ready', call: () => ({ path: '/health/ready' }), expect: all(200) },
  { route: 'GET /metrics', call: () => ({ path: '/metrics' }), expect: all(200) },
  { route: 'GET /docs', call: () => ({ path: '/docs' }), expect: all(200) },
  { route: 'GET /docs/openapi.json', call: () => ({ path: '/docs/openapi.json' }), expect: all(200) },
  {
    route: 'GET /docs/assets/{file}',
    call: () => ({ path: '/docs/assets/swagger-ui.css' }),
    expect: all(200),
  },
  {
    route: 'GET /docs/assets/{file}',
    note: 'only the listed files',
    call: () => ({ path: '/docs/assets/package.json' }),
    expect: all(404),
  },
  {
    route: 'POST /v1/submissions',
    call: () => ({ path: '/v1/submissions', multipart: upload() }),
    expect: roles(201, 403, 201),
  },
  {
    route: 'POST /v1/submissions',
    note: 'no file part',
    call: () => {
      const form = new FormData();
      form.append('metadata', JSON.stringify(fileMetadata(EICAR)));
      return { path: '/v1/submissions', multipart: form };
    },
    expect: roles(400, 403, 400),
  },
  {
    route: 'GET /v1/submissions/{id}',
    note: "the agent's own",
    call: (c) => ({ path: `/v1/submissions/${c.ownSubmission}` }),
    expect: roles(200, 200, 200),
  },
  {
    route: 'GET /v1/submissions/{id}',
    note: "somebody else's: an agent sees only its own",
    call: (c) => ({ path: `/v1/submissions/${c.otherSubmission}` }),
    expect: roles(404, 200, 200),
  },
  { route: 'GET /v1/me', call: () => ({ path: '/v1/me' }), expect: roles(200, 200, 200) },
  { route: 'GET /v1/queues', call: () => ({ path: '/v1/queues' }), expect: roles(403, 200, 200) },
  { route: 'GET /v1/samples', call: () => ({ path: '/v1/samples' }), expect: roles(403, 200, 200) },
  {
    route: 'GET /v1/samples',
    note: 'bad limit',
    call: () => ({ path: '/v1/samples?limit=0' }),
    expect: roles(403, 400, 400),
  },
  {
    route: 'GET /v1/samples/{sha256}',
    call: (c) => ({ path: `/v1/samples/${c.sha256}` }),
    expect: roles(403, 200, 200),
  },
  {
    route: 'GET /v1/samples/{sha256}',
    note: 'unknown sample',
    call: () => ({ path: `/v1/samples/${'0'.repeat(64)}` }),
    expect: roles(403, 404, 404),
  },
  {
    route: 'POST /v1/samples/{sha256}/rescan',
    call: (c) => ({ path: `/v1/samples/${c.sha256}/rescan` }),
    expect: roles(403, 202, 202),
  },
  {
    route: 'GET /v1/samples/{sha256}/submissions',
    call: (c) => ({ path: `/v1/samples/${c.sha256}/submissions` }),
    expect: roles(403, 200, 200),
  },
  {
    route: 'GET /v1/samples/{sha256}/scans',
    call: (c) => ({ path: `/v1/samples/${c.sha256}/scans` }),
    expect: roles(403, 200, 200),
  },
  {
    route: 'GET /v1/samples/{sha256}/preview',
    call: (c) => ({ path: `/v1/samples/${c.sha256}/preview?length=32` }),
    expect: roles(403, 200, 200),
  },
  {
    route: 'GET /v1/samples/{sha256}/preview',
    note: 'length over 64 KiB',
    call: (c) => ({ path: `/v1/samples/${c.sha256}/preview?length=65537` }),
    expect: roles(403, 400, 400),
  },
  {
    route: 'GET /v1/samples/{sha256}/download',
    call: (c) => ({ path: `/v1/samples/${c.sha256}/download` }),
    expect: roles(403, 200, 200),
  },
  {
    route: 'HEAD /v1/samples/{sha256}/download',
    call: (c) => ({ path: `/v1/samples/${c.sha256}/download` }),
    expect: roles(403, 200, 200),
  },
  {
    route: 'POST /v1/rulesets',
    call: () => ({ path: '/v1/rulesets', body: { name: 'matrix', source: 'rule m { condition: false }' } }),
    expect: roles(403, 201, 201),
  },
  {
    route: 'POST /v1/rulesets',
    note: 'no source',
    call: () => ({ path: '/v1/rulesets', body: { name: 'matrix' } }),
    expect: roles(403, 400, 400),
  },
  { route: 'GET /v1/rulesets', call: () => ({ path: '/v1/rulesets' }), expect: roles(403, 200, 200) },
  {
    route: 'GET /v1/rulesets/{id}',
    call: (c) => ({ path: `/v1/rulesets/${c.activeRuleset}` }),
    expect: roles(403, 200, 200),
  },
  {
    route: 'PATCH /v1/rulesets/{id}/rules/{rule}',
    call: (c) => ({ path: `/v1/rulesets/${c.stagingForRules}/rules/demo`, body: { state: 'noisy' } }),
    expect: roles(403, 200, 200),
  },
  {
    route: 'PATCH /v1/rulesets/{id}/rules/{rule}',
    note: 'unknown state',
    call: (c) => ({ path: `/v1/rulesets/${c.stagingForRules}/rules/demo`, body: { state: 'loud' } }),
    expect: roles(403, 400, 400),
  },
  {
    route: 'POST /v1/rulesets/{id}/activate',
    call: (c) => ({ path: `/v1/rulesets/${c.stagingForActivation}/activate` }),
    expect: roles(403, 403, 200),
  },
  {
    route: 'POST /v1/rulesets/{id}/activate',
    note: 'with a retro-scan',
    call: async (c) => ({
      path: `/v1/rulesets/${await createRuleset(c.service, 'retroscan')}/activate`,
      body: { retroscan: true },
    }),
    expect: roles(403, 403, 200),
  },
  {
    route: 'POST /v1/rulesets/{id}/activate',
    note: 'retroscan not a boolean',
    call: async (c) => ({
      path: `/v1/rulesets/${await createRuleset(c.service, 'retroscan')}/activate`,
      body: { retroscan: 'yes' },
    }),
    expect: roles(403, 403, 400),
  },
  {
    route: 'POST /v1/tokens',
    call: (_, who) => ({ path: '/v1/tokens', body: { name: `made-by-${who}`, role: 'analyst' } }),
    expect: roles(403, 403, 201),
  },
  {
    route: 'POST /v1/tokens',
    note: 'unknown role',
    call: () => ({ path: '/v1/tokens', body: { name: 'x', role: 'root' } }),
    expect: roles(403, 403, 400),
  },
  { route: 'GET /v1/tokens', call: () => ({ path: '/v1/tokens' }), expect: roles(403, 403, 200) },
  {
    route: 'POST /v1/tokens/{id}/revoke',
    call: async (c) => ({ path: `/v1/tokens/${await personToken(c.service)}/revoke` }),
    expect: roles(403, 403, 200),
  },
  {
    route: 'POST /v1/tokens/{id}/revoke',
    note: 'unknown id',
    call: () => ({ path: `/v1/tokens/${randomUUID()}/revoke` }),
    expect: roles(403, 403, 404),
  },
  {
    route: 'POST /v1/enrollment-tokens',
    call: () => ({ path: '/v1/enrollment-tokens', body: { ttlSeconds: 60, maxUses: 1 } }),
    expect: roles(403, 403, 201),
  },
  {
    route: 'POST /v1/enrollment-tokens',
    note: 'no expiry',
    call: () => ({ path: '/v1/enrollment-tokens', body: { maxUses: 1 } }),
    expect: roles(403, 403, 400),
  },
  {
    route: 'GET /v1/enrollment-tokens',
    call: () => ({ path: '/v1/enrollment-tokens' }),
    expect: roles(403, 403, 200),
  },
  {
    route: 'POST /v1/enrollment-tokens/{id}/revoke',
    call: async (c) => ({ path: `/v1/enrollment-tokens/${(await enrollmentToken(c.service, 1)).id}/revoke` }),
    expect: roles(403, 403, 200),
  },
  {
    route: 'POST /v1/agents/enroll',
    note: 'public: the enrollment token is the credential, a bearer token changes nothing',
    call: (c) => ({ path: '/v1/agents/enroll', body: { enrollmentToken: c.enrollmentToken, ...ENROLL } }),
    expect: all(201),
  },
  {
    route: 'POST /v1/agents/enroll',
    note: 'a host name is refused',
    call: (c) => ({
      path: '/v1/agents/enroll',
      body: { enrollmentToken: c.enrollmentToken, ...ENROLL, hostname: 'pc' },
    }),
    expect: all(400),
  },
  { route: 'GET /v1/agents', call: () => ({ path: '/v1/agents' }), expect: roles(403, 403, 200) },
  {
    route: 'GET /v1/agents',
    note: 'bad limit',
    call: () => ({ path: '/v1/agents?limit=0' }),
    expect: roles(403, 403, 400),
  },
  {
    route: 'POST /v1/agents/{id}/revoke',
    call: async (c) => ({
      path: `/v1/agents/${(await enrollAgent(c.service, c.enrollmentToken)).agentId}/revoke`,
    }),
    expect: roles(403, 403, 200),
  },
  {
    route: 'POST /v1/agents/{id}/withdraw',
    call: async (c) => ({
      path: `/v1/agents/${(await enrollAgent(c.service, c.enrollmentToken)).agentId}/withdraw`,
    }),
    expect: roles(403, 403, 200),
  },
  {
    route: 'POST /v1/agents/{id}/withdraw',
    note: 'unknown agent',
    call: () => ({ path: '/v1/agents/00000000-0000-4000-8000-000000000000/withdraw' }),
    expect: roles(403, 403, 404),
  },
  {
    route: 'PUT /v1/agents/me/consent',
    call: () => ({
      path: '/v1/agents/me/consent',
      body: { participating: true, statementVersion: '2026-01' },
    }),
    expect: roles(200, 403, 403),
  },
  {
    route: 'PUT /v1/agents/me/consent',
    note: 'no statement version',
    call: () => ({ path: '/v1/agents/me/consent', body: { participating: true } }),
    expect: roles(400, 403, 403),
  },
  {
    route: 'POST /v1/lookups',
    call: (c) => ({ path: '/v1/lookups', body: { items: [{ sha256: c.sha256 }] } }),
    expect: roles(200, 403, 403),
  },
  {
    route: 'POST /v1/lookups',
    note: 'malformed items are answered one by one',
    call: (c) => ({ path: '/v1/lookups', body: { items: [{ sha256: c.sha256 }, { sha256: 'nope' }, 42] } }),
    expect: roles(200, 403, 403),
  },
  {
    route: 'POST /v1/lookups',
    note: 'no items',
    call: () => ({ path: '/v1/lookups', body: { items: [] } }),
    expect: roles(400, 403, 403),
  },
  { route: 'GET /v1/audit', call: () => ({ path: '/v1/audit' }), expect: roles(403, 403, 200) },
  {
    route: 'GET /v1/audit',
    note: 'bad date',
    call: () => ({ path: '/v1/audit?from=yesterday' }),
    expect: roles(403, 403, 400),
  },
  {
    route: 'POST /v1/uploads',
    call: () => ({ path: '/v1/uploads', headers: tusCreation(benign(512)) }),
    expect: roles(201, 403, 201),
  },
  {
    route: 'POST /v1/uploads',
    note: 'no Tus-Resumable header',
    call: () => {
      const { 'tus-resumable': _, ...headers } = tusCreation(benign(512));
      return { path: '/v1/uploads', headers };
    },
    expect: roles(412, 403, 412),
  },
  {
    route: 'POST /v1/uploads',
    note: 'no metadata key in Upload-Metadata',
    call: () => ({ path: '/v1/uploads', headers: { ...TUS, 'upload-length': '512' } }),
    expect: roles(400, 403, 400),
  },
  {
    route: 'OPTIONS /v1/uploads',
    note: 'public: tus discovery',
    call: () => ({ path: '/v1/uploads' }),
    expect: all(204),
  },
  {
    route: 'HEAD /v1/uploads/{id}',
    note: "the agent's upload: nobody else sees it",
    call: async (c) => ({ path: await createUpload(c.service, c.tokens.agent), headers: TUS }),
    expect: roles(200, 403, 404),
  },
  {
    route: 'HEAD /v1/uploads/{id}',
    note: "the caller's own upload",
    call: async (c, who) => ({ path: await ownUpload(c, who), headers: TUS }),
    expect: roles(200, 403, 200),
  },
  {
    route: 'PATCH /v1/uploads/{id}',
    note: "the agent's upload: nobody else sees it",
    call: async (c) => patchChunk(await createUpload(c.service, c.tokens.agent)),
    expect: roles(204, 403, 404),
  },
  {
    route: 'PATCH /v1/uploads/{id}',
    note: "the caller's own upload",
    call: async (c, who) => patchChunk(await ownUpload(c, who)),
    expect: roles(204, 403, 204),
  },
  {
    route: 'PATCH /v1/uploads/{id}',
    note: 'wrong Upload-Offset',
    call: async (c, who) => {
      const call = patchChunk(await ownUpload(c, who));
      return { ...call, headers: { ...call.headers, 'upload-offset': '7' } };
    },
    expect: roles(409, 403, 409),
  },
  {
    route: 'DELETE /v1/uploads/{id}',
    note: "the agent's upload: nobody else sees it",
    call: async (c) => ({ path: await createUpload(c.service, c.tokens.agent), headers: TUS }),
    expect: roles(204, 403, 404),
  },
  {
    route: 'DELETE /v1/uploads/{id}',
    note: "the caller's own upload",
    call: async (c, who) => ({ path: await ownUpload(c, who), headers: TUS }),
    expect: roles(204, 403, 204),
  },
  {
    route: 'POST /v1/retrohunts',
    call: () => ({ path: '/v1/retrohunts', body: { source: 'rule hunt { condition: false }' } }),
    expect: roles(403, 201, 201),
  },
  {
    route: 'POST /v1/retrohunts',
    note: 'no rule compiles',
    call: () => ({ path: '/v1/retrohunts', body: { source: 'rule broken {' } }),
    expect: roles(403, 400, 400),
  },
  { route: 'GET /v1/retrohunts', call: () => ({ path: '/v1/retrohunts' }), expect: roles(403, 200, 200) },
  {
    route: 'GET /v1/retrohunts/{id}',
    call: async (c) => ({ path: `/v1/retrohunts/${await createRetrohunt(c.service)}` }),
    expect: roles(403, 200, 200),
  },
  {
    route: 'GET /v1/retrohunts/{id}',
    note: 'unknown retrohunt',
    call: () => ({ path: `/v1/retrohunts/${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}` }),
    expect: roles(403, 404, 404),
  },
  {
    route: 'POST /v1/retrohunts/{id}/cancel',
    call: async (c) => ({ path: `/v1/retrohunts/${await createRetrohunt(c.service)}/cancel` }),
    expect: roles(403, 200, 200),
  },
  {
    route: 'POST /v1/retrohunts/{id}/cancel',
    note: 'already cancelled or done',
    call: async (c) => {
      const path = `/v1/retrohunts/${await createRetrohunt(c.service)}/cancel`;
      // An idle scanner can finish this four-sample hunt (~20 ms) before the cancel lands: then it is done.
      assert.ok([200, 409].includes((await c.service.request(path, { method: 'POST' })).status));
      return { path };
    },
    expect: roles(403, 409, 409),
  },
  {
    route: 'GET /v1/stats/overview',
    call: () => ({ path: '/v1/stats/overview' }),
    expect: roles(403, 200, 200),
  },
  {
    route: 'GET /v1/stats/overview',
    note: 'from after to',
    call: () => ({ path: '/v1/stats/overview?from=2026-02-01&to=2026-01-01' }),
    expect: roles(403, 400, 400),
  },
  {
    route: 'GET /v1/stats/series',
    call: () => ({ path: '/v1/stats/series?groupBy=verdict' }),
    expect: roles(403, 200, 200),
  },
  {
    route: 'GET /v1/stats/series',
    note: 'no groupBy',
    call: () => ({ path: '/v1/stats/series' }),
    expect: roles(403, 400, 400),
  },
  {
    route: 'GET /v1/admin/jobs/failed',
    call: () => ({ path: '/v1/admin/jobs/failed?queue=scan' }),
    expect: roles(403, 403, 200),
  },
  {
    route: 'GET /v1/admin/jobs/failed',
    note: 'no queue',
    call: () => ({ path: '/v1/admin/jobs/failed' }),
    expect: roles(403, 403, 400),
  },
  {
    route: 'POST /v1/admin/jobs/failed/replay',
    call: () => ({ path: '/v1/admin/jobs/failed/replay', body: { queue: 'scan', ids: ['not-a-job'] } }),
    expect: roles(403, 403, 200),
  },
  {
    route: 'POST /v1/admin/jobs/failed/replay',
    note: 'unknown queue',
    call: () => ({ path: '/v1/admin/jobs/failed/replay', body: { queue: 'mail' } }),
    expect: roles(403, 403, 400),
  },
  {
    route: 'POST /v1/admin/stats/rollup',
    call: () => ({ path: '/v1/admin/stats/rollup' }),
    expect: roles(403, 403, 202),
  },
  {
    route: 'POST /v1/admin/retention/sweep',
    call: () => ({ path: '/v1/admin/retention/sweep' }),
    expect: roles(403, 403, 202),
  },
];

describe('permission matrix', () => {
  const service = new TestService();
  let ctx: Context;

  before(async () => {
    await service.start();
    // Retrohunts stay queued: over this handful of samples one would otherwise be done within
    // milliseconds, and whether a cancel finds it running would be a race.
    const retrohunts = new Queue(QueueName.Retrohunt, {
      connection: { url: 'redis://127.0.0.1:6379' },
      prefix: service.queuePrefix,
    });
    await retrohunts.pause();
    await retrohunts.close();
    const enrollment = await enrollmentToken(service, 100);
    const agent = await enrollAgent(service, enrollment.token);
    const consent = await service.request('/v1/agents/me/consent', {
      method: 'PUT',
      token: agent.apiKey,
      ...json({ participating: true, statementVersion: '2026-01' }),
    });
    assert.equal(consent.status, 200);
    const eicar = await service.submit(EICAR, fileMetadata(EICAR), service.adminToken);
    assert.equal(eicar.status, 201, await eicar.clone().text());
    const other = (await eicar.json()) as { submissionId: string; sha256: string };
    const bytes = benign(256);
    const own = await service.submit(bytes, fileMetadata(bytes), agent.apiKey);
    assert.equal(own.status, 201, await own.clone().text());
    await pollUntil(
      async () => {
        const res = await service.request(`/v1/submissions/${other.submissionId}`);
        return ((await res.json()) as { status: string }).status === 'scanned' ? true : undefined;
      },
      { what: 'the EICAR scan' },
    );
    const rulesets = (await (await service.request('/v1/rulesets')).json()) as {
      id: string;
      status: string;
    }[];
    const active = rulesets.find((r) => r.status === 'active');
    assert.ok(active !== undefined);
    ctx = {
      service,
      tokens: { agent: agent.apiKey, analyst: await service.token('analyst'), admin: service.adminToken },
      sha256: other.sha256,
      ownSubmission: ((await own.json()) as { submissionId: string }).submissionId,
      otherSubmission: other.submissionId,
      activeRuleset: active.id,
      stagingForActivation: await createRuleset(service, 'activation'),
      stagingForRules: await createRuleset(service, 'states'),
      enrollmentToken: enrollment.token,
    };
  });
  after(() => service.stop());

  it('covers every route of the OpenAPI document, and no other', async () => {
    const doc = (await (await service.request('/docs/openapi.json', { token: null })).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const documented = Object.entries(doc.paths)
      .flatMap(([path, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    const covered = [...new Set(ROWS.map((r) => r.route))].sort();
    assert.deepEqual(covered, documented);
  });

  it('answers each caller as the table says, every JSON success as the document describes it', async () => {
    const doc = (await (await service.request('/docs/openapi.json', { token: null })).json()) as Record<
      string,
      unknown
    >;
    const failures: string[] = [];
    /** The routes a JSON success answer was checked for. */
    const checked = new Set<string>();
    for (const row of ROWS) {
      const [method] = row.route.split(' ') as [string];
      for (const who of WHO) {
        const call = await row.call(ctx, who);
        const init: RequestInit & { token: string | null } = {
          method,
          token: who === 'none' ? null : ctx.tokens[who],
          ...(call.body === undefined ? {} : json(call.body)),
          ...(call.multipart === undefined ? {} : { body: call.multipart }),
        };
        if (call.headers !== undefined) {
          init.headers = { ...(init.headers as Record<string, string> | undefined), ...call.headers };
        }
        if (call.raw !== undefined) init.body = call.raw;
        const res = await service.request(call.path, init);
        const text = await res.text();
        const where = `${row.route}${row.note === undefined ? '' : ` (${row.note})`} as ${who}`;
        if (res.status !== row.expect[who]) {
          failures.push(`${where}: ${res.status}, expected ${row.expect[who]}: ${text.slice(0, 200)}`);
        }
        // A field added to an answer without its schema in libs/contracts (or a type the answer does not
        // keep) fails here: the document's schemas are strict.
        if (res.ok && /^application\/json\b/.test(res.headers.get('content-type') ?? '')) {
          checked.add(row.route);
          const mismatch = responseMismatch(doc, row.route, res.status, JSON.parse(text));
          if (mismatch !== null) failures.push(`${where}: ${mismatch}`);
        }
      }
    }
    assert.deepEqual(failures, []);
    // Every route documented with a JSON success answer gave one here.
    const jsonRoutes = Object.entries(doc.paths as Record<string, Record<string, { responses: object }>>)
      .flatMap(([path, item]) =>
        Object.entries(item)
          .filter(([, op]) =>
            Object.entries(op.responses).some(
              ([s, r]) => /^2/.test(s) && JSON.stringify(r).includes('"application/json"'),
            ),
          )
          .map(([method]) => `${method.toUpperCase()} ${path}`),
      )
      .sort();
    assert.deepEqual([...checked].sort(), jsonRoutes);
  });
});
