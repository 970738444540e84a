import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { JobName, QueueName } from '#contracts';
import {
  EICAR,
  TestService,
  benign,
  fileMetadata,
  listFiles,
  multipartHead,
  multipartType,
  pollUntil,
  query,
  sha256,
} from '#test-support';

interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

interface LookupAnswer {
  sha256: string | null;
  known?: boolean;
  wanted?: boolean;
  verdict?: string;
  error?: string;
}

const PSEUDONYM_KEY = 'agents-e2e-pseudonym-key-0123456789abcdef';
/** What the service must call an agent outside its agents row: HMAC-SHA256 of its id under the key. */
const pseudonymOf = (agentId: string): string =>
  createHmac('sha256', PSEUDONYM_KEY).update(agentId, 'utf8').digest('hex');

const json = (body: unknown): RequestInit => ({
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

const enrollment = {
  product: { name: 'Specimen Agent', version: '1.2.3' },
  os: { family: 'windows', version: '10.0.19045' },
  country: 'de',
};

async function createEnrollmentToken(service: TestService, body: Record<string, unknown>): Promise<string> {
  const res = await service.request('/v1/enrollment-tokens', { method: 'POST', ...json(body) });
  assert.equal(res.status, 201, await res.clone().text());
  return ((await res.json()) as { token: string }).token;
}

async function enroll(service: TestService, enrollmentToken: string): Promise<Response> {
  return service.request('/v1/agents/enroll', {
    method: 'POST',
    token: null,
    ...json({ enrollmentToken, ...enrollment }),
  });
}

/** A freshly enrolled agent, consenting unless told otherwise. */
async function newAgent(
  service: TestService,
  participating: boolean | null = true,
): Promise<{ agentId: string; apiKey: string }> {
  const token = await createEnrollmentToken(service, { ttlSeconds: 600, maxUses: 1 });
  const res = await enroll(service, token);
  assert.equal(res.status, 201, await res.clone().text());
  const agent = (await res.json()) as { agentId: string; apiKey: string };
  if (participating !== null) await consent(service, agent.apiKey, participating);
  return agent;
}

async function consent(service: TestService, apiKey: string, participating: boolean): Promise<Response> {
  const res = await service.request('/v1/agents/me/consent', {
    method: 'PUT',
    token: apiKey,
    ...json({ participating, statementVersion: '2026-01' }),
  });
  assert.equal(res.status, 200, await res.clone().text());
  return res;
}

async function lookup(service: TestService, apiKey: string, items: unknown[]): Promise<Response> {
  return service.request('/v1/lookups', { method: 'POST', token: apiKey, ...json({ items }) });
}

/**
 * Starts a 64 MiB multipart upload but sends only its first bytes, and resolves with the status the
 * server answers before the rest: proof that the request was refused before its body was read.
 */
async function statusBeforeBody(service: TestService, apiKey: string): Promise<number> {
  const boundary = `b${randomBytes(8).toString('hex')}`;
  const head = multipartHead(boundary, { kind: 'file', sha256: 'a'.repeat(64), size: 64 * 1024 * 1024 });
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${service.baseUrl}/v1/submissions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${apiKey}`,
        'content-type': multipartType(boundary),
        'content-length': String(head.length + 64 * 1024 * 1024),
      },
    });
    req.on('response', (res) => {
      res.resume();
      req.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.write(head);
    req.write(randomBytes(64 * 1024));
  });
}

describe('agent protocol', () => {
  let service: TestService;

  before(async () => {
    service = new TestService({ env: { RATE_LIMIT_PER_MINUTE: '50', PSEUDONYM_KEY }, checkAnswers: true });
    await service.start();
  });
  after(() => service.stop());

  it('enroll → consent → submit → verdict, with only the allowed facts stored and every change audited', async () => {
    const { agentId, apiKey } = await newAgent(service);
    const res = await service.submit(EICAR, fileMetadata(EICAR), apiKey);
    assert.equal(res.status, 201, await res.clone().text());
    const { submissionId } = (await res.json()) as { submissionId: string };
    const verdict = await pollUntil(
      async () => {
        const r = await service.request(`/v1/submissions/${submissionId}`, { token: apiKey });
        const body = (await r.json()) as { status: string; verdict: string | null };
        return body.status === 'scanned' ? body.verdict : undefined;
      },
      { what: 'the verdict' },
    );
    assert.equal(verdict, 'malicious');

    const [agent] = await query<Record<string, unknown>>(
      service.databaseUrl,
      'select * from agents where id = $1',
      [agentId],
    );
    assert.deepEqual(
      Object.keys(agent ?? {}).sort(),
      [
        'consent_changed_at',
        'consent_revoked_at',
        'consent_statement_version',
        'enrolled_at',
        'enrollment_token_id',
        'id',
        'os_family',
        'os_version',
        'participating',
        'product_name',
        'product_version',
        'pseudonym',
        'revoked_at',
        'country',
      ].sort(),
    );
    assert.equal(agent?.country, 'DE');
    assert.equal(agent?.pseudonym, pseudonymOf(agentId));
    const actions = await query<{ action: string }>(
      service.databaseUrl,
      `select action from audit_log where target_id = $1 order by id`,
      [pseudonymOf(agentId)],
    );
    assert.deepEqual(
      actions.map((a) => a.action),
      ['agent.enroll', 'agent.consent.give'],
    );
    const tokenAudits = await query(
      service.databaseUrl,
      `select 1 from audit_log where action = 'enrollment-token.create'`,
    );
    assert.ok(tokenAudits.length >= 1);
  });

  it('says the same of a bad JSON body on every route: not a JSON object (400), over the limit (413)', async () => {
    const send = (path: string, body: string) =>
      service.request(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    for (const [path, body] of [
      ['/v1/tokens', '{"name":'],
      ['/v1/tokens', 'null'],
      ['/v1/enrollment-tokens', '[1,'],
      ['/v1/rulesets', '{"name":'],
    ] as const) {
      const res = await send(path, body);
      assert.equal(res.status, 400, `${path} ${body}`);
      const { error } = (await res.json()) as ErrorBody;
      assert.equal(error.code, 'VALIDATION_FAILED');
      assert.equal(error.message, 'the body is not a JSON object', `${path} ${body}`);
    }
    const big = await send('/v1/tokens', JSON.stringify({ name: 'x'.repeat(1024 * 1024 + 10) }));
    assert.equal(big.status, 413);
    const { error } = (await big.json()) as ErrorBody;
    assert.equal(error.code, 'FILE_TOO_LARGE');
    assert.equal(error.message, 'the JSON body exceeds the limit of 1048576 bytes');
  });

  it('refuses every ingest call without consent, or after it is withdrawn, and stores nothing', async () => {
    const { agentId, apiKey } = await newAgent(service, null);
    const bytes = benign(2048);
    const hash = sha256(bytes);
    const before = await listFiles(service.storageDir ?? '');
    for (const phase of ['never given', 'withdrawn']) {
      const res = await service.submit(bytes, fileMetadata(bytes), apiKey);
      assert.equal(res.status, 403, phase);
      assert.equal(((await res.json()) as ErrorBody).error.code, 'CONSENT_REQUIRED');
      const look = await lookup(service, apiKey, [{ sha256: hash }]);
      assert.equal(look.status, 403, phase);
      assert.equal(((await look.json()) as ErrorBody).error.code, 'CONSENT_REQUIRED');
      assert.equal(await statusBeforeBody(service, apiKey), 403, phase);
      assert.deepEqual(await listFiles(service.storageDir ?? ''), before);
      const rows = await query(service.databaseUrl, 'select 1 from samples where sha256 = $1', [hash]);
      assert.equal(rows.length, 0);
      if (phase === 'never given') {
        await consent(service, apiKey, true);
        const ok = await lookup(service, apiKey, [{ sha256: hash }]);
        assert.equal(ok.status, 200);
        await consent(service, apiKey, false);
      }
    }
    const [agent] = await query<{ participating: boolean; consent_revoked_at: Date | null }>(
      service.databaseUrl,
      'select participating, consent_revoked_at from agents where id = $1',
      [agentId],
    );
    assert.equal(agent?.participating, false);
    assert.ok(agent?.consent_revoked_at instanceof Date, 'the revocation time is kept for the purge');
    const audits = await query<{ action: string; details: Record<string, unknown> }>(
      service.databaseUrl,
      `select action, details from audit_log where target_id = $1 and action like 'agent.consent.%' order by id`,
      [pseudonymOf(agentId)],
    );
    assert.deepEqual(
      audits.map((a) => [a.action, a.details.participating]),
      [
        ['agent.consent.give', true],
        ['agent.consent.revoke', false],
      ],
    );
  });

  it('outside the agents table and its key an agent is named only by its keyed pseudonym', async () => {
    const { agentId, apiKey } = await newAgent(service);
    const bytes = benign(700);
    const res = await service.submit(bytes, fileMetadata(bytes), apiKey);
    assert.equal(res.status, 201, await res.clone().text());
    const seen = await lookup(service, apiKey, [{ sha256: sha256(bytes) }]);
    assert.equal(seen.status, 200);
    const listed = await service.request('/v1/agents?limit=100');
    const agents = ((await listed.json()) as { items: { id: string; pseudonym: string | null }[] }).items;
    assert.equal(agents.find((a) => a.id === agentId)?.pseudonym, pseudonymOf(agentId));
    const [key] = await query<{ id: string }>(
      service.databaseUrl,
      'select id from api_tokens where agent_id = $1',
      [agentId],
    );
    assert.ok(key !== undefined);
    const sightings = await query<{ country: string | null; product_version: string | null }>(
      service.databaseUrl,
      'select country, product_version from submissions where submitter = $1',
      [pseudonymOf(agentId)],
    );
    assert.ok(sightings.length >= 1, 'its sightings carry its pseudonym');
    assert.ok(sightings.every((s) => s.country === 'DE' && s.product_version === 'Specimen Agent 1.2.3'));
    await consent(service, apiKey, false);
    assert.equal((await service.request(`/v1/agents/${agentId}/revoke`, { method: 'POST' })).status, 200);

    // Every row of every other table, as text: neither the agent's id nor its key's id may appear.
    const tables = await query<{ name: string }>(
      service.databaseUrl,
      `select table_name as name from information_schema.tables
        where table_schema = 'public' and table_type = 'BASE TABLE' and table_name not in ('agents', 'api_tokens')`,
    );
    assert.ok(tables.some((t) => t.name === 'audit_log') && tables.some((t) => t.name === 'submissions'));
    for (const { name } of tables) {
      const found: unknown[] = await query(
        service.databaseUrl,
        `select 1 from "${name}" t where strpos(t::text, $1) > 0 or strpos(t::text, $2) > 0 limit 1`,
        [agentId, key.id],
      );
      assert.equal(found.length, 0, `table ${name} names the agent or its key`);
    }
  });

  it('a revoked agent gets 401 at once, and the revocation is audited', async () => {
    const { agentId, apiKey } = await newAgent(service);
    assert.equal((await lookup(service, apiKey, [{ sha256: '0'.repeat(64) }])).status, 200);
    const res = await service.request(`/v1/agents/${agentId}/revoke`, { method: 'POST' });
    assert.equal(res.status, 200, await res.clone().text());
    const { revokedAt } = (await res.json()) as { revokedAt: string | null };
    assert.notEqual(revokedAt, null);
    // Again: the same answer, and no second audit record (counted below).
    const again = await service.request(`/v1/agents/${agentId}/revoke`, { method: 'POST' });
    assert.equal(again.status, 200);
    assert.equal(((await again.json()) as { revokedAt: string | null }).revokedAt, revokedAt);
    const bytes = benign(512);
    const submit = await service.submit(bytes, fileMetadata(bytes), apiKey);
    assert.equal(submit.status, 401);
    assert.equal(((await submit.json()) as ErrorBody).error.code, 'UNAUTHENTICATED');
    assert.equal((await lookup(service, apiKey, [{ sha256: '0'.repeat(64) }])).status, 401);
    const put = await service.request('/v1/agents/me/consent', {
      method: 'PUT',
      token: apiKey,
      ...json({ participating: true, statementVersion: '2026-01' }),
    });
    assert.equal(put.status, 401);
    const audits = await query(
      service.databaseUrl,
      `select 1 from audit_log where action = 'agent.revoke' and target_id = $1`,
      [pseudonymOf(agentId)],
    );
    assert.equal(audits.length, 1);
    const unknown = await service.request(`/v1/agents/${'0'.repeat(8)}-0000-0000-0000-000000000000/revoke`, {
      method: 'POST',
    });
    assert.equal(unknown.status, 404);
  });

  it('enrollment tokens expire and run out; enrollment takes only the listed facts', async () => {
    const twice = await createEnrollmentToken(service, { name: 'fleet', ttlSeconds: 600, maxUses: 2 });
    assert.equal((await enroll(service, twice)).status, 201);
    assert.equal((await enroll(service, twice)).status, 201);
    const third = await enroll(service, twice);
    assert.equal(third.status, 401);
    assert.equal(((await third.json()) as ErrorBody).error.details?.reason, 'used-up');

    const past = await service.request('/v1/enrollment-tokens', {
      method: 'POST',
      ...json({ expiresAt: '2020-01-01T00:00:00Z', maxUses: 5 }),
    });
    assert.equal(past.status, 400, 'a token cannot be born expired');
    assert.match(JSON.stringify(await past.json()), /expiresAt must be in the future/);
    const expired = await createEnrollmentToken(service, {
      expiresAt: new Date(Date.now() + 60_000).toISOString(),
      maxUses: 5,
    });
    await query(
      service.databaseUrl,
      `update enrollment_tokens set expires_at = now() - interval '1 second'
       where token_hash = encode(sha256($1::bytea), 'hex')`,
      [expired],
    );
    const late = await enroll(service, expired);
    assert.equal(late.status, 401);
    assert.equal(((await late.json()) as ErrorBody).error.details?.reason, 'expired');

    const unknown = await enroll(service, `spe_${randomBytes(16).toString('hex')}`);
    assert.equal(unknown.status, 401);

    const created = await service.request('/v1/enrollment-tokens', {
      method: 'POST',
      ...json({ ttlSeconds: 600, maxUses: 5 }),
    });
    const { id, token: withdrawn } = (await created.json()) as { id: string; token: string };
    const revoke = await service.request(`/v1/enrollment-tokens/${id}/revoke`, { method: 'POST' });
    assert.equal(revoke.status, 200, await revoke.clone().text());
    const again = await service.request(`/v1/enrollment-tokens/${id}/revoke`, { method: 'POST' });
    assert.equal(again.status, 200);
    assert.deepEqual(await again.json(), await revoke.json());
    const refused = await enroll(service, withdrawn);
    assert.equal(refused.status, 401);
    assert.equal(((await refused.json()) as ErrorBody).error.details?.reason, 'revoked');
    const audits = await query(
      service.databaseUrl,
      `select 1 from audit_log where action = 'enrollment-token.revoke' and target_id = $1`,
      [id],
    );
    assert.equal(audits.length, 1);

    // The admin's list: uses and revocation of each, newest first, and never a token or its hash.
    const listed = await service.request('/v1/enrollment-tokens');
    assert.equal(listed.status, 200);
    const text = await listed.clone().text();
    assert.ok(!text.includes(withdrawn) && !text.includes('spe_') && !/hash/i.test(text), text.slice(0, 300));
    const items = ((await listed.json()) as { items: Array<Record<string, unknown>> }).items;
    const mine = items.find((t) => t.id === id);
    assert.deepEqual(
      { uses: mine?.uses, maxUses: mine?.maxUses, revoked: typeof mine?.revokedAt === 'string' },
      { uses: 0, maxUses: 5, revoked: true },
    );
    const fleet = items.find((t) => t.name === 'fleet');
    assert.deepEqual([fleet?.uses, fleet?.maxUses, fleet?.revokedAt], [2, 2, null]);
    const createdAts = items.map((t) => String(t.createdAt));
    assert.deepEqual(createdAts, [...createdAts].sort().reverse(), 'newest first');

    const fresh = await createEnrollmentToken(service, { ttlSeconds: 60, maxUses: 5 });
    for (const extra of [{ hostname: 'DESKTOP-1' }, { country: 'DEU' }, { os: { family: 'linux' } }]) {
      const res = await service.request('/v1/agents/enroll', {
        method: 'POST',
        token: null,
        ...json({ enrollmentToken: fresh, ...enrollment, ...extra }),
      });
      assert.equal(res.status, 400, JSON.stringify(extra));
    }
    // Refused requests used nothing up.
    const [row] = await query<{ uses: number }>(
      service.databaseUrl,
      'select uses from enrollment_tokens where token_hash = encode(sha256($1::bytea), $2)',
      [fresh, 'hex'],
    );
    assert.equal(row?.uses, 0);

    const bad = await service.request('/v1/enrollment-tokens', {
      method: 'POST',
      ...json({ maxUses: 1, ttlSeconds: 60, expiresAt: new Date().toISOString() }),
    });
    assert.equal(bad.status, 400);
    const agentToken = await service.token('agent');
    const notAdmin = await service.request('/v1/enrollment-tokens', {
      method: 'POST',
      token: agentToken,
      ...json({ maxUses: 1, ttlSeconds: 60 }),
    });
    assert.equal(notAdmin.status, 403);
  });

  it('lists agents page by page (admin only)', async () => {
    const seen: string[] = [];
    let after: string | null = null;
    do {
      const res = await service.request(`/v1/agents?limit=2${after === null ? '' : `&after=${after}`}`);
      assert.equal(res.status, 200);
      const page = (await res.json()) as {
        items: { id: string; country: string | null }[];
        next: string | null;
      };
      assert.ok(page.items.length <= 2);
      seen.push(...page.items.map((a) => a.id));
      after = page.next;
    } while (after !== null);
    const [count] = await query<{ n: number }>(service.databaseUrl, 'select count(*)::int as n from agents');
    assert.equal(seen.length, count?.n);
    assert.equal(new Set(seen).size, seen.length);
    const { apiKey } = await newAgent(service);
    assert.equal((await service.request('/v1/agents', { token: apiKey })).status, 403);
  });

  it('answers 1,000 lookups of known, unknown and malformed hashes item by item, recording sightings', async () => {
    const { apiKey, agentId } = await newAgent(service);
    // Two samples uploaded for real (intact), 398 rows whose objects are gone (known but wanted again): their
    // scan failed, which is where the scanner records an object it found missing.
    const uploaded = [benign(1024), benign(1024)];
    for (const bytes of uploaded) {
      const res = await service.submit(bytes, fileMetadata(bytes), apiKey);
      assert.equal(res.status, 201);
    }
    const intact = uploaded.map(sha256);
    const lost = Array.from({ length: 398 }, () => randomBytes(32).toString('hex'));
    await query(
      service.databaseUrl,
      `insert into samples (sha256, sha1, md5, size, kind, object_key, scan_status, verdict)
       select h, repeat('0', 40), repeat('0', 32), 10, 'file', 'samples/gone/' || h, 'failed', null
       from unnest($1::text[]) as h`,
      [lost],
    );
    const unknown = Array.from({ length: 500 }, () => randomBytes(32).toString('hex'));
    const malformed: unknown[] = [
      ...Array.from({ length: 96 }, (_, i) => ({ sha256: 'z'.repeat(64 - (i % 3)) })),
      { sha256: 42 },
      { size: 3 },
      'not an object',
      { sha256: '0'.repeat(64), kind: 'elephant' },
    ];
    const items: unknown[] = [
      ...intact.map((h) => ({ sha256: h.toUpperCase(), size: 1024, kind: 'file' })),
      ...lost.map((h) => ({ sha256: h })),
      ...unknown.map((h) => ({ sha256: h })),
      ...malformed,
    ];
    assert.equal(items.length, 1000);
    const res = await lookup(service, apiKey, items);
    assert.equal(res.status, 200, await res.clone().text());
    const answers = ((await res.json()) as { items: LookupAnswer[] }).items;
    assert.equal(answers.length, 1000);
    assert.deepEqual(
      answers.slice(0, 2).map((a) => [a.sha256, a.known, a.wanted]),
      intact.map((h) => [h, true, false]),
    );
    for (const a of answers.slice(2, 400)) {
      assert.deepEqual([a.known, a.wanted, a.verdict], [true, true, undefined]);
    }
    for (const [i, a] of answers.slice(400, 900).entries()) {
      assert.deepEqual(a, { sha256: unknown[i], known: false, wanted: true });
    }
    for (const a of answers.slice(900)) {
      assert.equal(typeof a.error, 'string', JSON.stringify(a));
      assert.equal(a.known, undefined);
    }
    assert.match(answers[900]?.error ?? '', /64 hexadecimal digits/);

    // The sightings are written by the scanner from the maintenance queue, within seconds.
    const sightings = await pollUntil(
      async () => {
        const rows = await query<{ sightings: number; lookups: number; submitter: string }>(
          service.databaseUrl,
          `select s.sightings, u.lookups, u.submitter
           from samples s
           left join lateral (select count(*)::int as lookups, max(submitter) as submitter from submissions u
                              where u.sample_sha256 = s.sha256 and u.source = 'lookup') u on true
           where s.sha256 = any($1::text[])`,
          [[...intact, ...lost]],
        );
        return rows.every((r) => r.lookups > 0) ? rows : undefined;
      },
      { what: 'the lookup sightings written' },
    );
    assert.equal(sightings.length, 400);
    assert.ok(sightings.every((s) => s.lookups === 1));
    assert.ok(sightings.every((s) => s.sightings === 2));
    assert.ok(
      sightings.every((s) => s.submitter === pseudonymOf(agentId)),
      'the agent by its pseudonym',
    );
    // The row's last_seen may trail the newest sighting by up to a minute (made so here, whatever the time
    // between upload and lookup); the detail shows the newest sighting exactly.
    const [seen] = await query<{ newest: Date }>(
      service.databaseUrl,
      `update samples s set last_seen = n.newest - interval '30 seconds'
       from (select max(received_at) as newest from submissions where sample_sha256 = $1) n
       where s.sha256 = $1 returning n.newest`,
      [intact[0]],
    );
    assert.ok(seen !== undefined);
    const detail = await service.request(`/v1/samples/${intact[0]}`);
    assert.equal(((await detail.json()) as { lastSeen: string }).lastSeen, seen.newest.toISOString());
    // The sightings say how each came, and the upload (with its metadata) can be asked for alone.
    type Sightings = { items: Array<{ source: string; metadata: Record<string, unknown> }> };
    const all = (await (await service.request(`/v1/samples/${intact[0]}/submissions`)).json()) as Sightings;
    assert.deepEqual(
      all.items.map((s) => s.source),
      ['lookup', 'upload'],
    );
    assert.deepEqual(all.items[0]?.metadata, {}, 'a lookup carries no metadata');
    const uploads = (await (
      await service.request(`/v1/samples/${intact[0]}/submissions?source=upload`)
    ).json()) as Sightings;
    assert.deepEqual(
      uploads.items.map((s) => s.source),
      ['upload'],
    );
    assert.equal((await service.request(`/v1/samples/${intact[0]}/submissions?source=email`)).status, 400);

    const tooMany = await lookup(
      service,
      apiKey,
      Array.from({ length: 1001 }, () => ({ sha256: unknown[0] })),
    );
    assert.equal(tooMany.status, 400);
  });

  it('does not write the queued sightings of an agent that withdrew its consent, even after its purge', async () => {
    const withdrawing = await newAgent(service);
    const staying = await newAgent(service);
    const bytes = benign(512);
    assert.equal((await service.submit(bytes, fileMetadata(bytes), staying.apiKey)).status, 201);
    const hash = sha256(bytes);
    const lookupsOf = async (agentId: string) =>
      (
        await query<{ n: number }>(
          service.databaseUrl,
          `select count(*)::int as n from submissions
           where sample_sha256 = $1 and source = 'lookup' and submitter = $2`,
          [hash, pseudonymOf(agentId)],
        )
      )[0]?.n;
    const sightings = new Queue(QueueName.Sightings, {
      connection: { url: service.env.REDIS_URL ?? '' },
      prefix: service.queuePrefix,
    });
    try {
      // No scanner: the sightings wait in the queue while the agent withdraws.
      await service.stopScanner();
      let jobId: string | undefined;
      try {
        const first = await lookup(service, withdrawing.apiKey, [{ sha256: hash }]);
        assert.equal(first.status, 200);
        assert.equal(((await first.json()) as { items: LookupAnswer[] }).items[0]?.known, true);
        await consent(service, withdrawing.apiKey, false);
        assert.equal((await lookup(service, staying.apiKey, [{ sha256: hash }])).status, 200);
        assert.equal(await lookupsOf(withdrawing.agentId), 0, 'the sighting is not written in the request');
        assert.equal(await lookupsOf(staying.agentId), 0);
        // The job carries the pseudonym, never the id. Its queue stays paused until the purge the withdrawal
        // queued has run: the case where only the writer's consent check can help.
        const jobs = await sightings.getJobs(['waiting']);
        const job = jobs.find(
          (j) =>
            (j.name as JobName) === JobName.LookupSightings &&
            (j.data as { submitter?: string }).submitter === pseudonymOf(withdrawing.agentId),
        );
        assert.ok(job !== undefined, 'the sightings job is queued');
        assert.ok(!JSON.stringify(job.data).includes(withdrawing.agentId));
        jobId = job.id;
        await sightings.pause();
      } finally {
        service.startScanner();
      }
      await pollUntil(
        async () => {
          const rows = await query(
            service.databaseUrl,
            `select 1 from audit_log where action = 'consent.purge' and target_id = $1`,
            [pseudonymOf(withdrawing.agentId)],
          );
          return rows.length > 0 ? true : undefined;
        },
        { what: "the withdrawn agent's purge" },
      );
      await sightings.resume();
      // Both agents' jobs: the staying agent's may be written in a later batch than the withdrawn one's.
      await pollUntil(
        async () => {
          const counts = await sightings.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
          const pending = Object.values(counts).reduce((a, b) => a + b, 0);
          return pending === 0 && (await sightings.getJob(jobId ?? '')) === undefined ? true : undefined;
        },
        { what: 'the queued sightings jobs done' },
      );
    } finally {
      await sightings.resume().catch(() => undefined);
      await sightings.close();
    }
    assert.equal(await lookupsOf(staying.agentId), 1);
    assert.equal(await lookupsOf(withdrawing.agentId), 0);
    const [sample] = await query<{ sightings: number }>(
      service.databaseUrl,
      'select sightings from samples where sha256 = $1',
      [hash],
    );
    assert.equal(sample?.sightings, 2, 'the upload and the staying agent: the withdrawn one does not count');
  });

  it('limits each agent by its id: a burst over the limit gets 429 with Retry-After', async () => {
    const { apiKey, agentId } = await newAgent(service); // the consent call counts as one request
    const other = await newAgent(service);
    const answers = await Promise.all(
      Array.from({ length: 60 }, () => lookup(service, apiKey, [{ sha256: '1'.repeat(64) }])),
    );
    const statuses = answers.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 200).length, 49);
    assert.equal(statuses.filter((s) => s === 429).length, 11);
    const limited = answers.find((r) => r.status === 429);
    const retryAfter = Number(limited?.headers.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    assert.equal(((await limited?.json()) as ErrorBody).error.code, 'RATE_LIMITED');
    const bytes = benign(256);
    assert.equal((await service.submit(bytes, fileMetadata(bytes), apiKey)).status, 429);
    // Another agent (same address) is counted on its own.
    assert.equal((await lookup(service, other.apiKey, [{ sha256: '1'.repeat(64) }])).status, 200);
    // Over its limit, the agent can still leave; coming back, or leaving again, waits like anything else.
    const setConsent = (participating: boolean) =>
      service.request('/v1/agents/me/consent', {
        method: 'PUT',
        token: apiKey,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ participating, statementVersion: '2026-01' }),
      });
    const leave = await setConsent(false);
    assert.equal(leave.status, 200, await leave.clone().text());
    assert.equal(((await leave.json()) as { participating: boolean }).participating, false);
    assert.equal((await setConsent(false)).status, 429, 'a repeated withdrawal is limited');
    assert.equal((await setConsent(true)).status, 429, 'a return is limited');
    const audits = await query(
      service.databaseUrl,
      `select 1 from audit_log where action = 'agent.consent.revoke'
       and target_id = (select pseudonym from agents where id = $1)`,
      [agentId],
    );
    assert.equal(audits.length, 1, 'the refused withdrawal left no audit record');
  });
});

describe('back-pressure', () => {
  let service: TestService;

  before(async () => {
    service = new TestService({
      scanner: false,
      env: {
        SCAN_BACKLOG_MAX: '0',
        SCAN_BACKLOG_CACHE_MS: '100',
        BACKPRESSURE_RETRY_AFTER_SECONDS: '7',
        // Request logs on, to check that they carry no client address.
        LOG_LEVEL: 'info',
      },
    });
    await service.start();
  });
  after(() => service.stop());

  it('refuses bytes with 503 while the scan backlog is over the threshold; lookups and consent still work', async () => {
    const { apiKey } = await newAgent(service);
    const first = benign(1024);
    const accepted = await service.submit(first, fileMetadata(first), apiKey);
    assert.equal(accepted.status, 201, await accepted.clone().text());
    // Re-sending the same bytes adds no job, so polling does not grow the backlog.
    const refused = await pollUntil(
      async () => {
        const res = await service.submit(first, fileMetadata(first), apiKey);
        return res.status === 503 ? res : undefined;
      },
      { what: 'a 503 once the backlog is seen' },
    );
    assert.equal(refused.headers.get('retry-after'), '7');
    assert.equal(((await refused.json()) as ErrorBody).error.code, 'BACKPRESSURE');

    const fresh = benign(1024);
    const stored = await listFiles(service.storageDir ?? '');
    assert.equal((await service.submit(fresh, fileMetadata(fresh), apiKey)).status, 503);
    assert.equal(await statusBeforeBody(service, apiKey), 503);
    assert.deepEqual(await listFiles(service.storageDir ?? ''), stored);
    const rows = await query(service.databaseUrl, 'select 1 from samples where sha256 = $1', [sha256(fresh)]);
    assert.equal(rows.length, 0);

    const look = await lookup(service, apiKey, [{ sha256: sha256(first) }, { sha256: sha256(fresh) }]);
    assert.equal(look.status, 200);
    const answers = ((await look.json()) as { items: LookupAnswer[] }).items;
    assert.deepEqual(
      answers.map((a) => [a.known, a.wanted]),
      [
        [true, false],
        [false, true],
      ],
    );
    await consent(service, apiKey, false);
    await consent(service, apiKey, true);
  });

  it('stores nothing for an agent without consent even when the backlog is full', async () => {
    const { apiKey } = await newAgent(service, false);
    const bytes = benign(300);
    const res = await service.submit(bytes, fileMetadata(bytes), apiKey);
    assert.equal(res.status, 403);
    const rows = await query(service.databaseUrl, 'select 1 from samples where sha256 = $1', [sha256(bytes)]);
    assert.equal(rows.length, 0);
  });

  it('logs requests without the client address', () => {
    const output = service.output();
    assert.match(output, /"url":"\/v1\/lookups"/);
    assert.doesNotMatch(output, /remoteAddress|remotePort|x-forwarded-for/i);
  });
});
