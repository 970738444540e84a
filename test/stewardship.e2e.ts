import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  TestService,
  benign,
  fileMetadata,
  listFiles,
  multipartHead,
  multipartTail,
  openSubmission,
  pollUntil,
  query,
  sha256,
} from '#test-support';

interface Agent {
  agentId: string;
  apiKey: string;
}

interface SeriesView {
  points: { date: string; total: number | null; cells: { value: string; submissions: number }[] }[];
}

const json = (body: unknown): RequestInit => ({
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

async function enrollAgents(service: TestService, countries: (string | null)[]): Promise<Agent[]> {
  const res = await service.request('/v1/enrollment-tokens', {
    method: 'POST',
    ...json({ ttlSeconds: 600, maxUses: countries.length }),
  });
  assert.equal(res.status, 201, await res.clone().text());
  const { token } = (await res.json()) as { token: string };
  const agents: Agent[] = [];
  for (const country of countries) {
    const enrolled = await service.request('/v1/agents/enroll', {
      method: 'POST',
      token: null,
      ...json({
        enrollmentToken: token,
        product: { name: 'Specimen Agent', version: '2.0' },
        os: { family: 'windows', version: '10' },
        ...(country === null ? {} : { country }),
      }),
    });
    assert.equal(enrolled.status, 201, await enrolled.clone().text());
    const agent = (await enrolled.json()) as Agent;
    await setConsent(service, agent, true);
    agents.push(agent);
  }
  return agents;
}

async function setConsent(service: TestService, agent: Agent, participating: boolean): Promise<void> {
  const res = await service.request('/v1/agents/me/consent', {
    method: 'PUT',
    token: agent.apiKey,
    ...json({ participating, statementVersion: '2026-01' }),
  });
  assert.equal(res.status, 200, await res.clone().text());
}

/** Withdraws the agent's consent and waits for the consent purge that follows to be audited. */
async function withdrawAndAwaitPurge(service: TestService, agent: Agent): Promise<void> {
  const purges = async () =>
    (await query(service.databaseUrl, `select 1 from audit_log where action = 'consent.purge'`)).length;
  const before = await purges();
  await setConsent(service, agent, false);
  await pollUntil(async () => ((await purges()) > before ? true : undefined), {
    timeoutMs: 60_000,
    what: 'the consent purge',
  });
}

async function submit(
  service: TestService,
  agent: Agent,
  bytes: Buffer,
  extra: Record<string, unknown> = {},
): Promise<void> {
  const res = await service.submit(bytes, fileMetadata(bytes, extra), agent.apiKey);
  assert.ok(res.status === 201 || res.status === 200, await res.text());
}

async function allScanned(service: TestService): Promise<void> {
  await pollUntil(
    async () => {
      const [row] = await query<{ n: string }>(
        service.databaseUrl,
        `select count(*) as n from samples where scan_status = 'pending'`,
      );
      return row?.n === '0' ? true : undefined;
    },
    { timeoutMs: 60_000, what: 'every sample scanned' },
  );
}

/** Asks for a roll-up and waits until today's stored cells are rolled at or after the request. */
async function rollup(service: TestService): Promise<void> {
  const asked = new Date();
  const res = await service.request('/v1/admin/stats/rollup', { method: 'POST' });
  assert.equal(res.status, 202, await res.clone().text());
  await pollUntil(
    async () => {
      const rows = await query<{ n: string }>(
        service.databaseUrl,
        `select count(*) as n from stats_days where rolled_at >= $1 or final`,
        [asked],
      );
      return rows[0]?.n !== '0' ? true : undefined;
    },
    { timeoutMs: 30_000, what: 'a statistics roll-up' },
  );
}

async function getJson<T>(service: TestService, path: string): Promise<T> {
  const res = await service.request(path);
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()) as T;
}

/**
 * A multipart submission whose file part stops halfway: the request is past authentication and the consent
 * check and its bytes are streaming when `finish` sends the rest.
 */
function stalledSubmit(
  service: TestService,
  token: string,
  bytes: Buffer,
): { finish: () => Promise<{ status: number; body: string }> } {
  const boundary = `----stalled${Date.now()}`;
  const head = multipartHead(boundary, fileMetadata(bytes), 'upload.bin');
  const tail = multipartTail(boundary);
  const half = Math.floor(bytes.length / 2);
  const { req, answer } = openSubmission(
    service.baseUrl,
    token,
    boundary,
    head.length + bytes.length + tail.length,
  );
  req.write(Buffer.concat([head, bytes.subarray(0, half)]));
  return {
    finish: async () => {
      req.end(Buffer.concat([bytes.subarray(half), tail]));
      return answer;
    },
  };
}

const GROUPS = ['kind', 'verdict', 'country', 'productVersion', 'rule'] as const;

async function allStats(service: TestService): Promise<unknown[]> {
  const out: unknown[] = [await getJson(service, '/v1/stats/overview')];
  for (const g of GROUPS) out.push(await getJson(service, `/v1/stats/series?groupBy=${g}&interval=day`));
  return out;
}

const objectPath = (service: TestService, sha: string): string =>
  join(service.storageDir ?? '', 'samples', sha.slice(0, 2), sha.slice(2, 4), sha);

async function sampleRows(service: TestService, sha: string): Promise<{ sightings: number }[]> {
  return query<{ sightings: number }>(
    service.databaseUrl,
    'select sightings from samples where sha256 = $1',
    [sha],
  );
}

describe('data stewardship', () => {
  const service = new TestService({
    // Roll-ups only when the test asks, so that answers compared with each other come from one roll-up.
    env: { STATS_K_ANONYMITY: '3', STATS_ROLLUP_MS: '3600000', PURGE_BATCH_SIZE: '2' },
    checkAnswers: true,
  });
  let agents: Agent[] = [];
  const unique: Buffer[] = [];
  const shared = benign(3000);

  before(async () => {
    await service.start();
    // DE ×3, NL ×3, FR ×1: FR is under k = 3, and alone it would be revealed by the total, so one more
    // country is suppressed with it into (other).
    agents = await enrollAgents(service, ['DE', 'DE', 'DE', 'NL', 'NL', 'NL', 'FR']);
    for (const agent of agents) {
      const bytes = benign(2000);
      unique.push(bytes);
      await submit(service, agent, bytes, { path: 'C:\\Users\\alice\\Downloads\\x.exe' });
    }
    const [a0, a1] = agents;
    assert.ok(a0 !== undefined && a1 !== undefined);
    await submit(service, a0, shared);
    await submit(service, a1, shared);
    await allScanned(service);
    await rollup(service);
  });

  after(async () => {
    await service.stop();
  });

  it('scrubs user names, host names and e-mail addresses from metadata before storing it', async () => {
    const bytes = benign(1000);
    const agent = agents[3];
    assert.ok(agent !== undefined);
    await submit(service, agent, bytes, {
      path: '\\\\fileserver\\share\\Users\\bob\\run.exe',
      filename: 'mail-carol@example.org.exe',
      process: { pid: 1, image: '/home/dave/bin/x', commandLine: 'x --owner S-1-5-21-1-2-3-1001' },
    });
    const rows = await query<{ metadata: Record<string, unknown>; filename: string }>(
      service.databaseUrl,
      'select metadata, filename from submissions where sample_sha256 = $1',
      [sha256(bytes)],
    );
    const stored = JSON.stringify(rows);
    for (const secret of ['fileserver', 'bob', 'carol', 'dave', 'S-1-5-21']) {
      assert.ok(!stored.includes(secret), `${secret} is stored: ${stored}`);
    }
    assert.equal(rows[0]?.metadata.path, '\\\\<host>\\share\\Users\\<user>\\run.exe');
    assert.equal(rows[0]?.filename, '<email>');
  });

  it('suppresses cells under k, with a complementary cell, so no pair of answers reveals them', async () => {
    const country = await getJson<SeriesView>(service, '/v1/stats/series?groupBy=country&interval=day');
    assert.equal(country.points.length, 1);
    const [point] = country.points;
    assert.ok(point !== undefined);
    const values = point.cells.map((c) => c.value).sort();
    assert.ok(!values.includes('FR'), JSON.stringify(point));
    assert.ok(values.includes('(other)'), 'FR is folded into (other) with a complementary country');
    assert.equal(values.length, 2, 'one of DE/NL is suppressed with FR');
    // Every partition adds up to the same total, so differences of answers only give published cells.
    for (const g of ['kind', 'verdict', 'country', 'productVersion'] as const) {
      const series = await getJson<SeriesView>(service, `/v1/stats/series?groupBy=${g}&interval=day`);
      for (const p of series.points) {
        assert.equal(
          p.cells.reduce((s, c) => s + c.submissions, 0),
          p.total,
          `${g} on ${p.date}`,
        );
      }
    }
    const stored = await query<{ n: string }>(
      service.databaseUrl,
      'select count(*) as n from stats_daily where agents < 3',
    );
    assert.equal(stored[0]?.n, '0', 'no cell under k is even stored');
    const overview = await getJson<{ total: number; byCountry: { value: string }[] }>(
      service,
      '/v1/stats/overview',
    );
    assert.equal(overview.total, point.total);
    assert.ok(!overview.byCountry.some((c) => c.value === 'FR'));
    const analyst = await service.token('analyst');
    const asAnalyst = await service.request('/v1/stats/overview', { token: analyst });
    assert.equal(asAnalyst.status, 200);
    const agentKey = agents[0]?.apiKey ?? null;
    assert.equal((await service.request('/v1/stats/overview', { token: agentKey })).status, 403);
    const bad = await service.request('/v1/stats/series?groupBy=host');
    assert.equal(bad.status, 400);
  });

  it('revoking consent purges the agent’s own samples and keeps shared ones, stats unchanged', async () => {
    await allScanned(service);
    await rollup(service);
    const before = await allStats(service);
    const [a0] = agents;
    const mine = unique[0];
    assert.ok(a0 !== undefined && mine !== undefined);
    const own = sha256(mine);
    assert.ok(existsSync(objectPath(service, own)));
    const seen = (sha: string) =>
      query<{ first_seen: Date; last_seen: Date }>(
        service.databaseUrl,
        'select first_seen, last_seen from samples where sha256 = $1',
        [sha],
      );
    const [sharedBefore] = await seen(sha256(shared));
    await setConsent(service, a0, false);
    await pollUntil(
      async () => {
        const rows = await query(
          service.databaseUrl,
          `select 1 from audit_log where action = 'consent.purge'`,
        );
        return rows.length > 0 ? true : undefined;
      },
      { timeoutMs: 60_000, what: 'the consent purge' },
    );
    assert.deepEqual(await sampleRows(service, own), []);
    assert.ok(!existsSync(objectPath(service, own)), 'the object is deleted');
    const left = await query(
      service.databaseUrl,
      `select 1 from submissions s join agents a on a.pseudonym = s.submitter where a.id = $1`,
      [a0.agentId],
    );
    assert.equal(left.length, 0);
    assert.deepEqual(await sampleRows(service, sha256(shared)), [{ sightings: 1 }]);
    assert.ok(existsSync(objectPath(service, sha256(shared))), 'the shared sample stays');
    assert.equal((await service.request(`/v1/samples/${sha256(shared)}`)).status, 200);
    // a0 sent the shared sample first: its first-seen time now is that of a1's sighting, the one left.
    const [sharedAfter] = await seen(sha256(shared));
    const [remaining] = await query<{ received_at: Date }>(
      service.databaseUrl,
      'select received_at from submissions where sample_sha256 = $1',
      [sha256(shared)],
    );
    assert.ok(sharedBefore !== undefined && sharedAfter !== undefined && remaining !== undefined);
    assert.ok(sharedAfter.first_seen > sharedBefore.first_seen, 'the withdrawn sighting no longer sets it');
    assert.equal(sharedAfter.first_seen.getTime(), remaining.received_at.getTime());
    assert.equal(sharedAfter.last_seen.getTime(), remaining.received_at.getTime());
    const [audit] = await query<{ target_id: string; details: Record<string, number> }>(
      service.databaseUrl,
      `select target_id, details from audit_log where action = 'consent.purge'`,
    );
    assert.notEqual(audit?.target_id, a0.agentId, 'the audit names the agent by a pseudonym');
    assert.equal(audit?.details.samplesDeleted, 1);
    assert.equal(audit?.details.samplesKept, 1);
    assert.equal(audit?.details.submissionsDeleted, 2);
    await rollup(service);
    assert.deepEqual(await allStats(service), before, 'statistics are unchanged');
  });

  it('an admin withdraws a revoked agent’s consent for it: the same purge, audited as the admin’s', async () => {
    const [agent] = await enrollAgents(service, ['pt']);
    assert.ok(agent !== undefined);
    const bytes = benign(4567);
    await submit(service, agent, bytes);
    await allScanned(service);
    assert.equal(
      (await service.request(`/v1/agents/${agent.agentId}/revoke`, { method: 'POST' })).status,
      200,
    );
    // Its key is refused, a withdrawal included.
    const own = await service.request('/v1/agents/me/consent', {
      method: 'PUT',
      token: agent.apiKey,
      ...json({ participating: false, statementVersion: '2026-01' }),
    });
    assert.equal(own.status, 401);
    const purges = async () =>
      (await query(service.databaseUrl, `select 1 from audit_log where action = 'consent.purge'`)).length;
    const before = await purges();
    const res = await service.request(`/v1/agents/${agent.agentId}/withdraw`, { method: 'POST' });
    assert.equal(res.status, 200, await res.clone().text());
    const view = (await res.json()) as { participating: boolean; statementVersion: string | null };
    assert.deepEqual([view.participating, view.statementVersion], [false, '2026-01']);
    await pollUntil(async () => ((await purges()) > before ? true : undefined), {
      timeoutMs: 60_000,
      what: 'the consent purge',
    });
    assert.equal((await service.request(`/v1/samples/${sha256(bytes)}`)).status, 404, 'purged');
    const audits = await query<{ actor_name: string }>(
      service.databaseUrl,
      `select actor_name from audit_log where action = 'agent.consent.revoke' and target_id =
         (select pseudonym from agents where id = $1)`,
      [agent.agentId],
    );
    assert.deepEqual(
      audits.map((a) => a.actor_name),
      ['bootstrap-admin'],
    );
    // Again: nothing more to do, nothing more recorded.
    assert.equal(
      (await service.request(`/v1/agents/${agent.agentId}/withdraw`, { method: 'POST' })).status,
      200,
    );
    assert.equal(
      (
        await query(
          service.databaseUrl,
          `select 1 from audit_log where action = 'agent.consent.revoke' and target_id =
             (select pseudonym from agents where id = $1)`,
          [agent.agentId],
        )
      ).length,
      1,
    );
  });

  it('a sample purged with its agent’s consent and uploaded again is scanned again', async () => {
    const [agent] = await enrollAgents(service, ['fr']);
    assert.ok(agent !== undefined);
    const bytes = benign(4321);
    const scannedAfter = async (res: Response): Promise<void> => {
      assert.equal(res.status, 201, await res.clone().text());
      const { submissionId } = (await res.json()) as { submissionId: string };
      await pollUntil(
        async () => {
          const view = (await (
            await service.request(`/v1/submissions/${submissionId}`, { token: agent.apiKey })
          ).json()) as { status: string; verdict: string | null };
          return view.status === 'scanned' ? view : undefined;
        },
        { timeoutMs: 30_000, what: `the scan of submission ${submissionId}` },
      );
    };
    await scannedAfter(await service.submit(bytes, fileMetadata(bytes), agent.apiKey));
    await withdrawAndAwaitPurge(service, agent);
    assert.equal((await service.request(`/v1/samples/${sha256(bytes)}`)).status, 404, 'purged');
    await setConsent(service, agent, true);
    // A new sample row: its job is a new one, not the finished job of the purged sample (kept for a day).
    await scannedAfter(await service.submit(bytes, fileMetadata(bytes), agent.apiKey));
    const sample = (await (await service.request(`/v1/samples/${sha256(bytes)}`)).json()) as {
      scanStatus: string;
      verdict: string | null;
    };
    assert.deepEqual([sample.scanStatus, sample.verdict], ['scanned', 'clean']);
  });

  it('an upload under way when its agent withdraws is refused, and leaves nothing of the agent behind', async () => {
    const agent = agents[2];
    assert.ok(agent !== undefined);
    const bytes = benign(256 * 1024);
    const sha = sha256(bytes);
    const upload = stalledSubmit(service, agent.apiKey, bytes);
    // Its first half is being written to a temporary file (`.tmp/` of the fs driver): it is past every guard.
    await pollUntil(
      async () =>
        (await listFiles(service.storageDir ?? '')).some((f) => f.startsWith('.tmp/')) ? true : undefined,
      { timeoutMs: 10_000, what: 'the upload to be streaming' },
    );
    await withdrawAndAwaitPurge(service, agent);
    const answer = await upload.finish();
    assert.equal(answer.status, 403, answer.body);
    assert.match(answer.body, /CONSENT_REQUIRED/);
    const left = await query(
      service.databaseUrl,
      `select s.received_at from submissions s join agents a on a.pseudonym = s.submitter where a.id = $1`,
      [agent.agentId],
    );
    assert.deepEqual(left, [], 'no submission of the withdrawn agent is kept');
    assert.deepEqual(await sampleRows(service, sha), []);
    // The object it promoted is deleted at once (the refusal queues a tombstone drain), not at the next
    // purge or retention sweep.
    await pollUntil(() => Promise.resolve(existsSync(objectPath(service, sha)) ? undefined : true), {
      timeoutMs: 15_000,
      what: 'the refused upload’s object to be deleted',
    });
  });

  it('what is submitted later on the day of a purge still counts in that day’s statistics', async () => {
    const agent = agents[4];
    assert.ok(agent !== undefined);
    await allScanned(service);
    await rollup(service);
    const before = await getJson<{ total: number }>(service, '/v1/stats/overview');
    await submit(service, agent, benign(1800));
    await allScanned(service);
    await rollup(service);
    const after = await getJson<{ total: number }>(service, '/v1/stats/overview');
    assert.equal(after.total, before.total + 1, 'the new submission is counted');
    // What the roll-ups keep of the purged submissions names no agent.
    const named = await query(
      service.databaseUrl,
      'select 1 from stats_removed r join agents a on r.agent = a.pseudonym or r.agent = a.id::text',
    );
    assert.deepEqual(named, []);
  });

  it('a withdrawal also removes the agent’s unfinished resumable uploads: their metadata and parts', async () => {
    const agent = agents[5];
    assert.ok(agent !== undefined);
    const bytes = benign(4096);
    const metadata = fileMetadata(bytes, { path: 'C:\\Users\\erin\\Desktop\\y.exe' });
    const created = await service.request('/v1/uploads', {
      method: 'POST',
      token: agent.apiKey,
      headers: {
        'tus-resumable': '1.0.0',
        'upload-length': String(bytes.length),
        'upload-metadata': `metadata ${Buffer.from(JSON.stringify(metadata)).toString('base64')}`,
      },
    });
    assert.equal(created.status, 201, await created.clone().text());
    const location = created.headers.get('location');
    assert.ok(location !== null);
    const patched = await service.request(location, {
      method: 'PATCH',
      token: agent.apiKey,
      headers: {
        'tus-resumable': '1.0.0',
        'content-type': 'application/offset+octet-stream',
        'upload-offset': '0',
      },
      body: bytes.subarray(0, 1024),
    });
    assert.equal(patched.status, 204, await patched.text());
    const parts = async () =>
      (await listFiles(service.storageDir ?? '')).filter((f) => f.startsWith('uploads/'));
    assert.notDeepEqual(await parts(), [], 'a part is stored');
    await withdrawAndAwaitPurge(service, agent);
    const rows = await query(service.databaseUrl, 'select metadata, raw_metadata from uploads');
    assert.deepEqual(rows, [], 'the upload, with its unscrubbed path, is gone');
    assert.deepEqual(await parts(), [], 'its parts are gone');
  });
});

describe('data stewardship: crash during a purge, and retention', () => {
  const service = new TestService({
    env: {
      STATS_K_ANONYMITY: '2',
      STATS_ROLLUP_MS: '1000',
      PURGE_BATCH_SIZE: '1',
      PURGE_FAIL_AFTER_BATCHES: '2',
      RETENTION_DAYS: '0.00002',
    },
  });
  let agents: Agent[] = [];

  before(async () => {
    await service.start();
    agents = await enrollAgents(service, ['DE', 'DE']);
  });

  after(async () => {
    await service.stop();
  });

  it('a purge that stops after some batches is resumed and ends with the same result', async () => {
    const [a0, a1] = agents;
    assert.ok(a0 !== undefined && a1 !== undefined);
    const own = Array.from({ length: 7 }, () => benign(1500));
    const shared = [benign(1500), benign(1500)];
    for (const b of [...own, ...shared]) await submit(service, a0, b);
    for (const b of shared) await submit(service, a1, b);
    await setConsent(service, a0, false);
    // Each interrupted run audits what it deleted; the run that finishes, the rest.
    const records = () =>
      query<{ details: { samplesDeleted: number; interrupted?: boolean } }>(
        service.databaseUrl,
        `select details from audit_log where action = 'consent.purge' order by id`,
      );
    await pollUntil(
      async () => ((await records()).some((r) => r.details.interrupted !== true) ? true : undefined),
      { timeoutMs: 120_000, what: 'the consent purge to finish' },
    );
    assert.match(service.output(), /stopped after 2 batches/, 'the purge was interrupted on the way');
    const audited = await records();
    assert.ok(
      audited.some((r) => r.details.interrupted === true),
      JSON.stringify(audited),
    );
    assert.equal(
      audited.reduce((n, r) => n + r.details.samplesDeleted, 0),
      own.length,
      `every deleted sample audited once: ${JSON.stringify(audited)}`,
    );
    for (const b of own) {
      assert.deepEqual(await sampleRows(service, sha256(b)), []);
      assert.ok(!existsSync(objectPath(service, sha256(b))));
    }
    for (const b of shared) {
      assert.deepEqual(await sampleRows(service, sha256(b)), [{ sightings: 1 }]);
      assert.ok(existsSync(objectPath(service, sha256(b))));
    }
    const tombstones = await query(service.databaseUrl, 'select 1 from object_tombstones');
    assert.equal(tombstones.length, 0);
  });

  it('expired samples are not served before the sweep and are gone after it; aggregates stay', async () => {
    const [, a1] = agents;
    assert.ok(a1 !== undefined);
    const bytes = benign(1200);
    const sha = sha256(bytes);
    const submitted = await service.submit(bytes, fileMetadata(bytes), a1.apiKey);
    assert.equal(submitted.status, 201, await submitted.clone().text());
    const { submissionId } = (await submitted.json()) as { submissionId: string };
    assert.equal((await service.request(`/v1/submissions/${submissionId}`)).status, 200);
    await allScanned(service);
    await rollup(service);
    const statsBefore = await query(service.databaseUrl, 'select * from stats_daily order by 1, 2, 3');
    const overviewBefore = await getJson(service, '/v1/stats/overview');
    // RETENTION_DAYS = 0.00002 is 1.728 s.
    await pollUntil(
      async () => ((await service.request(`/v1/samples/${sha}`)).status === 404 ? true : undefined),
      { timeoutMs: 10_000, what: 'the sample to expire' },
    );
    assert.equal((await service.request(`/v1/samples/${sha}/download`)).status, 404);
    assert.equal((await service.request(`/v1/samples/${sha}/download`, { method: 'HEAD' })).status, 404);
    assert.equal((await service.request(`/v1/samples/${sha}/preview`)).status, 404);
    // Nor through its submission, to an analyst or to the agent that sent it (both were 200 until the sweep).
    assert.equal((await service.request(`/v1/submissions/${submissionId}`)).status, 404);
    assert.equal(
      (await service.request(`/v1/submissions/${submissionId}`, { token: a1.apiKey })).status,
      404,
    );
    const search = await getJson<{ items: unknown[] }>(service, `/v1/samples?hash=${sha}`);
    assert.equal(search.items.length, 0);
    const lookup = await service.request('/v1/lookups', {
      method: 'POST',
      token: a1.apiKey,
      ...json({ items: [{ sha256: sha }] }),
    });
    assert.equal(lookup.status, 200);
    const answer = (await lookup.json()) as { items: { known: boolean }[] };
    assert.equal(answer.items[0]?.known, false, 'an expired sample is unknown to lookups');
    assert.equal((await sampleRows(service, sha)).length, 1, 'still stored until the sweep');

    const res = await service.request('/v1/admin/retention/sweep', { method: 'POST' });
    assert.equal(res.status, 202);
    const swept = await pollUntil(
      async () => {
        const rows = await query<{ actor_name: string }>(
          service.databaseUrl,
          `select actor_name from audit_log where action = 'retention.sweep'
          and (details->>'samplesDeleted')::int > 0`,
        );
        return rows.length > 0 ? rows : undefined;
      },
      { timeoutMs: 30_000, what: 'the retention sweep' },
    );
    // Asked for by the bootstrap admin: audited under its name, as every other admin action.
    assert.deepEqual(swept, [{ actor_name: 'bootstrap-admin' }]);
    assert.deepEqual(await sampleRows(service, sha), []);
    assert.ok(!existsSync(objectPath(service, sha)));
    const subs = await query(service.databaseUrl, 'select 1 from submissions where sample_sha256 = $1', [
      sha,
    ]);
    assert.equal(subs.length, 0);
    const scans = await query(service.databaseUrl, 'select 1 from scans where sample_sha256 = $1', [sha]);
    assert.equal(scans.length, 0);
    assert.ok(statsBefore.length > 0);
    await rollup(service);
    assert.deepEqual(
      await query(service.databaseUrl, 'select * from stats_daily order by 1, 2, 3'),
      statsBefore,
    );
    assert.deepEqual(await getJson(service, '/v1/stats/overview'), overviewBefore);
    const nonAdmin = await service.request('/v1/admin/retention/sweep', {
      method: 'POST',
      token: await service.token('analyst'),
    });
    assert.equal(nonAdmin.status, 403);
  });

  it('forgets an agent revoked longer than the retention period once nothing of it remains', async () => {
    const [, a1] = agents;
    assert.ok(a1 !== undefined);
    await submit(service, a1, benign(1300));
    await allScanned(service);
    assert.equal((await service.request(`/v1/agents/${a1.agentId}/revoke`, { method: 'POST' })).status, 200);
    const pseudonym = (
      await query<{ pseudonym: string }>(service.databaseUrl, 'select pseudonym from agents where id = $1', [
        a1.agentId,
      ])
    )[0]?.pseudonym;
    assert.ok(pseudonym !== undefined);
    // RETENTION_DAYS is 1.728 s: the revocation, and the sample, are past it after that.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    assert.equal((await service.request('/v1/admin/retention/sweep', { method: 'POST' })).status, 202);
    await pollUntil(
      async () => {
        const rows = await query(
          service.databaseUrl,
          `select 1 from audit_log where action = 'retention.sweep' and (details->>'agentsForgotten')::int > 0`,
        );
        return rows.length > 0 ? true : undefined;
      },
      { timeoutMs: 30_000, what: 'a retention sweep forgetting the agent' },
    );
    assert.deepEqual(
      await query(service.databaseUrl, 'select 1 from agents where id = $1', [a1.agentId]),
      [],
    );
    assert.deepEqual(
      await query(service.databaseUrl, 'select 1 from api_tokens where agent_id = $1', [a1.agentId]),
      [],
    );
    assert.deepEqual(
      await query(service.databaseUrl, 'select 1 from submissions where submitter = $1', [pseudonym]),
      [],
    );
    const listed = await getJson<{ items: { id: string }[] }>(service, '/v1/agents');
    assert.ok(!listed.items.some((a) => a.id === a1.agentId), 'no longer listed');
    // Its key still gets 401, as any unknown key.
    assert.equal((await service.request('/v1/me', { token: a1.apiKey })).status, 401);
  });
});

describe('data stewardship: scanner killed during a large purge', () => {
  const service = new TestService({
    env: { STATS_K_ANONYMITY: '2', STATS_ROLLUP_MS: '1000', PURGE_BATCH_SIZE: '1' },
  });
  let agents: Agent[] = [];

  before(async () => {
    await service.start();
    agents = await enrollAgents(service, ['DE', 'NL']);
  });

  after(async () => {
    await service.stop();
  });

  it('a purge whose scanner is killed (SIGKILL) finishes after a restart with the same result', async () => {
    const [a0, a1] = agents;
    assert.ok(a0 !== undefined && a1 !== undefined);
    const own = Array.from({ length: 200 }, () => benign(512));
    const shared = benign(512);
    for (const b of [...own, shared]) await submit(service, a0, b);
    await submit(service, a1, shared);
    const remaining = async (): Promise<number> => {
      const [row] = await query<{ n: string }>(
        service.databaseUrl,
        `select count(*) as n from submissions s join agents a on a.pseudonym = s.submitter
         where a.id = $1`,
        [a0.agentId],
      );
      return Number(row?.n ?? 0);
    };
    await setConsent(service, a0, false);
    await pollUntil(async () => ((await remaining()) <= 170 ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 20,
      what: 'the purge to be under way',
    });
    const scanner = service.scanner;
    assert.ok(scanner !== null);
    const exited = new Promise((resolve) => scanner.once('exit', resolve));
    scanner.kill('SIGKILL');
    await exited;
    const left = await remaining();
    assert.ok(left > 0, `the purge was killed halfway (${left} submissions left)`);

    service.startScanner();
    // The consent sweep finds the agent again; the killed job's lock expires later and it finds nothing.
    await pollUntil(
      async () => {
        const tombstones = await query(service.databaseUrl, 'select 1 from object_tombstones');
        return (await remaining()) === 0 && tombstones.length === 0 ? true : undefined;
      },
      { timeoutMs: 120_000, what: 'the purge to finish after the restart' },
    );
    for (const b of own) {
      assert.deepEqual(await sampleRows(service, sha256(b)), []);
      assert.ok(!existsSync(objectPath(service, sha256(b))), 'no object is left behind');
    }
    assert.deepEqual(await sampleRows(service, sha256(shared)), [{ sightings: 1 }]);
    assert.ok(existsSync(objectPath(service, sha256(shared))));
    const stray = await query<{ n: string }>(service.databaseUrl, 'select count(*) as n from samples');
    assert.equal(stray[0]?.n, '1');
  });
});
