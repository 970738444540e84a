import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ERROR_CODES } from '#contracts';
import { EICAR, TestService, fileMetadata, sha256 } from '#test-support';

type Json = Record<string, unknown>;
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/** Resolves a local JSON pointer (`#/components/schemas/Error`) in `doc`; undefined when it points nowhere. */
function resolvePointer(doc: unknown, ref: string): unknown {
  let node = doc;
  for (const raw of ref.slice(2).split('/')) {
    const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, key)) return undefined;
    node = (node as Json)[key];
  }
  return node;
}

function collectRefs(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const item of node) collectRefs(item, out);
  else if (node !== null && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string') out.push(value);
      else collectRefs(value, out);
    }
  }
  return out;
}

export async function fetchOpenApi(service: TestService): Promise<Json> {
  const res = await service.request('/docs/openapi.json', { token: null });
  assert.equal(res.status, 200);
  return (await res.json()) as Json;
}

/** `METHOD /path/{param}` of every operation in the document. */
export function documentedRoutes(doc: Json): string[] {
  const paths = doc.paths as Record<string, Json>;
  return Object.entries(paths).flatMap(([path, item]) =>
    Object.keys(item)
      .filter((m) => METHODS.includes(m))
      .map((m) => `${m.toUpperCase()} ${path}`),
  );
}

describe('OpenAPI document', () => {
  const service = new TestService({ scanner: false, checkAnswers: true });
  let doc: Json;
  before(async () => {
    await service.start();
    doc = await fetchOpenApi(service);
  });
  after(() => service.stop());

  it('is structurally OpenAPI 3.1 and every $ref resolves', () => {
    assert.match(String(doc.openapi), /^3\.1\.\d+$/);
    const info = doc.info as Json;
    assert.equal(typeof info.title, 'string');
    assert.equal(typeof info.version, 'string');
    assert.equal(typeof doc.paths, 'object');
    const components = doc.components as Json;
    assert.equal(typeof components.schemas, 'object');
    const refs = collectRefs(doc);
    assert.ok(refs.length > 0);
    for (const ref of refs) {
      assert.ok(ref.startsWith('#/'), `${ref} is local`);
      assert.notEqual(resolvePointer(doc, ref), undefined, `${ref} resolves`);
    }
    const operationIds = new Set<string>();
    for (const [path, item] of Object.entries(doc.paths as Record<string, Json>)) {
      assert.ok(path.startsWith('/'), path);
      assert.doesNotMatch(path, /:/, `${path} uses {param}, not :param`);
      for (const [method, op] of Object.entries(item as Record<string, Json>)) {
        assert.ok(METHODS.includes(method), `${path} ${method}`);
        const where = `${method.toUpperCase()} ${path}`;
        assert.equal(typeof op.summary, 'string', `${where} is documented (add it to ROUTE_DOCS)`);
        assert.ok(!operationIds.has(String(op.operationId)), `${where}: unique operationId`);
        operationIds.add(String(op.operationId));
        assert.ok(Array.isArray(op['x-roles']) && op['x-roles'].length > 0, `${where}: roles`);
        const responses = op.responses as Record<string, Json>;
        assert.ok(
          Object.keys(responses).some((s) => /^2\d\d$/.test(s)),
          `${where}: a success response`,
        );
        assert.ok(responses['500'] !== undefined, `${where}: INTERNAL`);
        const params = ((op.parameters as Json[] | undefined) ?? []).filter((p) => p.in === 'path');
        const inPath = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
        assert.deepEqual(params.map((p) => p.name).sort(), inPath.sort(), `${where}: path parameters`);
        for (const p of params) assert.equal(p.required, true);
      }
    }
  });

  it('names every error code with the one error shape', () => {
    const schemas = (doc.components as Json).schemas as Record<string, Json>;
    assert.deepEqual([...(schemas.ErrorCode?.enum as string[])].sort(), [...ERROR_CODES].sort());
    const error = (schemas.Error?.properties as Record<string, Json>).error as Json;
    assert.deepEqual(Object.keys(error.properties as Json).sort(), ['code', 'details', 'message']);
    for (const code of ERROR_CODES) assert.ok(String((doc.info as Json).description).includes(`| ${code} |`));
  });

  it('has an example for every JSON answer and request body', () => {
    for (const route of documentedRoutes(doc)) {
      const [method, path] = route.split(' ') as [string, string];
      const op = (doc.paths as Record<string, Record<string, Json>>)[path]?.[method.toLowerCase()] as Json;
      const responses = op.responses as Record<string, Json>;
      const [status, success] = Object.entries(responses).find(([s]) => /^2/.test(s)) ?? [];
      const content = (success?.content ?? {}) as Record<string, Json>;
      if (content['application/json'] !== undefined) {
        assert.notEqual(content['application/json'].example, undefined, `${route} ${status}: example`);
      }
      const body = (op.requestBody as Json | undefined)?.content as Record<string, Json> | undefined;
      if (body?.['application/json'] !== undefined) {
        assert.notEqual(body['application/json'].example, undefined, `${route}: request example`);
      }
    }
  });

  it('has examples with the fields of the real answers', async () => {
    const submitted = await service.submit(
      EICAR,
      fileMetadata(EICAR, { filename: 'eicar.com' }),
      service.adminToken,
    );
    assert.equal(submitted.status, 201, await submitted.clone().text());
    const sha = sha256(EICAR);
    // No scanner here: no default ruleset either, so one version is made.
    const created = await service.request('/v1/rulesets', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'openapi', source: 'rule demo { condition: true }' }),
    });
    assert.equal(created.status, 201, await created.clone().text());
    const rulesets = (await (await service.request('/v1/rulesets')).json()) as { id: string }[];
    const answered: [string, unknown][] = [['POST /v1/rulesets', await created.json()]];
    const example = (route: string): unknown => {
      const [method, path] = route.split(' ') as [string, string];
      const op = (doc.paths as Record<string, Record<string, Json>>)[path]?.[method.toLowerCase()] as Json;
      const [, success] =
        Object.entries(op.responses as Record<string, Json>).find(([s]) => /^2/.test(s)) ?? [];
      return ((success?.content as Record<string, Json>)['application/json'] as Json).example;
    };
    /** Keys of an object, of the first element of an array, or of a page's first item. */
    const shape = (value: unknown): string[] => {
      const first: unknown = Array.isArray(value) ? (value as unknown[])[0] : value;
      if (first === null || typeof first !== 'object') return [];
      const record = first as Record<string, unknown>;
      if (Array.isArray(record.items)) return shape(record.items);
      return Object.keys(record).sort();
    };
    for (const [route, path] of [
      ['GET /v1/me', '/v1/me'],
      ['GET /v1/rulesets', '/v1/rulesets'],
      ['GET /v1/rulesets/{id}', `/v1/rulesets/${rulesets[0]?.id ?? ''}`],
      ['GET /v1/samples', `/v1/samples?hash=${sha}`],
      ['GET /v1/samples/{sha256}', `/v1/samples/${sha}`],
      ['GET /v1/samples/{sha256}/submissions', `/v1/samples/${sha}/submissions`],
    ] as const) {
      const res = await service.request(path);
      assert.equal(res.status, 200, `${path}: ${await res.clone().text()}`);
      answered.push([route, await res.json()]);
    }
    for (const [route, body] of answered) {
      const real = shape(body);
      assert.ok(real.length > 0, `${route}: an answer with fields to compare`);
      assert.deepEqual(shape(example(route)), real, `${route}: the example's fields are the answer's`);
    }
  });

  it('lists only routes the app serves, and the ones it serves', async () => {
    const routes = documentedRoutes(doc);
    for (const expected of [
      'GET /health/live',
      'GET /health/ready',
      'GET /metrics',
      'GET /docs',
      'GET /docs/openapi.json',
      'POST /v1/submissions',
      'GET /v1/samples/{sha256}/download',
      'HEAD /v1/samples/{sha256}/download',
      'PATCH /v1/rulesets/{id}/rules/{rule}',
      'PUT /v1/agents/me/consent',
    ]) {
      assert.ok(routes.includes(expected), expected);
    }
    // Every documented route is answered by a handler, not by the framework's "Cannot GET" catch-all.
    for (const route of routes) {
      const [method, path] = route.split(' ') as [string, string];
      const url = path.replace(/\{[^}]+\}/g, (m) => (m === '{file}' ? 'swagger-ui.css' : 'x'));
      const res = await service.request(url, { method, token: null });
      const text = await res.text();
      assert.doesNotMatch(text, /Cannot (GET|POST|PUT|PATCH|DELETE)/, `${route} is served`);
    }
    const unknown = await service.request('/v1/not-a-route', { token: null });
    assert.match(await unknown.text(), /Cannot GET/);
  });

  it('lists the 400 of a malformed sha256 and the 413 of a JSON body over its limit', () => {
    const op = (method: string, path: string) =>
      ((doc.paths as Record<string, Json>)[path] as Record<string, Json>)[method] as Json;
    for (const [method, path] of [
      ['get', '/v1/samples/{sha256}'],
      ['get', '/v1/samples/{sha256}/download'],
      ['head', '/v1/samples/{sha256}/download'],
      ['post', '/v1/samples/{sha256}/rescan'],
    ] as const) {
      assert.ok((op(method, path).responses as Json)['400'] !== undefined, `${method} ${path}: 400`);
    }
    assert.match(
      String(((op('post', '/v1/lookups').responses as Json)['413'] as Json).description),
      /FILE_TOO_LARGE/,
    );
  });

  it('says what a retrohunt with a broken rule and a replay of the retrohunt queue answer', async () => {
    const op = (method: string, path: string) =>
      ((doc.paths as Record<string, Json>)[path] as Record<string, Json>)[method] as Json;
    const post = (path: string, body: unknown) =>
      service.request(path, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    // A hunt runs all its rules or none: one broken rule refuses the whole hunt.
    const hunt = await post('/v1/retrohunts', {
      source: 'rule ok { condition: true }\nrule broken { condition: $nope }',
    });
    assert.equal(hunt.status, 400, await hunt.clone().text());
    const retrohunts = op('post', '/v1/retrohunts');
    assert.doesNotMatch(String(retrohunts.summary), /left out/);
    assert.match(String(((retrohunts.responses as Json)['400'] as Json).description), /VALIDATION_FAILED/);
    const replay = await post('/v1/admin/jobs/failed/replay', { queue: 'retrohunt' });
    assert.equal(replay.status, 409, await replay.clone().text());
    const responses = op('post', '/v1/admin/jobs/failed/replay').responses as Json;
    assert.match(String((responses['409'] as Json | undefined)?.description), /CONFLICT/);
  });

  it('serves Swagger UI from the installed package', async () => {
    const page = await service.request('/docs', { token: null });
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    // Same origin as the console and the API: framed by no one, its own scripts only, as the console.
    const csp = page.headers.get('content-security-policy') ?? '';
    assert.match(csp, /frame-ancestors 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.equal(page.headers.get('x-frame-options'), 'DENY');
    assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
    const html = await page.text();
    assert.match(html, /swagger-ui-bundle\.js/);
    assert.doesNotMatch(html, /https?:\/\//, 'nothing is fetched from elsewhere');
    for (const file of [
      'swagger-ui-bundle.js',
      'swagger-ui.css',
      'swagger-ui-standalone-preset.js',
      'init.js',
    ]) {
      const res = await service.request(`/docs/assets/${file}`, { token: null });
      assert.equal(res.status, 200, file);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff', file);
      await res.arrayBuffer();
    }
    for (const file of ['package.json', '..%2Fpackage.json', 'index.html']) {
      assert.equal((await service.request(`/docs/assets/${file}`, { token: null })).status, 404, file);
    }
  });
});
