import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { JobName, QueueName } from '#contracts';
import {
  createObjectStore,
  retrohuntRulesKey,
  retrohuntRulesPrefix,
  sampleKey,
  type ObjectStore,
} from '#storage';
import {
  TestService,
  benign,
  fileMetadata,
  pollUntil,
  query,
  seedScannedSamples,
  sha256,
} from '#test-support';

interface Progress {
  scanned: number;
  timedOut: number;
  total: number;
  bytes: number;
}
interface Retrohunt {
  id: string;
  status: string;
  ruleCount: number;
  progress: Progress;
  matchCount: number;
  error: string | null;
}
interface RetrohuntDetail extends Retrohunt {
  matches: Array<{ sha256: string; rule: string; strings: Array<{ identifier: string; offset: number }> }>;
  nextCursor: string | null;
}
interface FailedJob {
  id: string;
  name: string;
  data: { sha256?: string };
  failedReason: string;
  attemptsMade: number;
}

const json = (body: unknown): RequestInit => ({
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

const MARKER = 'RH-MARKER-7f3a91';
const SEEDED = 1_000;
const SUBMITTED = 50;
const SAMPLE_SIZE = 4096;

const huntSource = [
  'rule hunt_marker',
  '{',
  `  strings: $m = "${MARKER}"`,
  '  condition: $m',
  '}',
  'rule hunt_never',
  '{',
  '  strings: $n = "this string is in no sample at all"',
  '  condition: $n',
  '}',
  '',
].join('\n');

// ~15 ms a 4 KiB sample (measured), so a retrohunt over the corpus lasts long enough to watch.
const slowSource = [
  'rule hunt_slow',
  '{',
  '  condition: for any i in (0..filesize - 1) : ( for any j in (0..31) : ( uint8(i) + j == 1000 ) )',
  '}',
  '',
].join('\n');

/** Random bytes; a marked sample has the marker at `offset`. */
function sampleBytes(offset: number | null): Buffer {
  const bytes = benign(SAMPLE_SIZE);
  if (offset !== null) bytes.write(MARKER, offset, 'ascii');
  return bytes;
}

describe('retrohunt, retro-scan on activation, failed jobs', () => {
  let service: TestService;
  let store: ObjectStore;
  let analyst = '';
  let agent = '';
  /** sha256 → offset of the marker, for every marked sample. */
  const marked = new Map<string, number>();
  const submitted: string[] = [];
  let totalBytes = 0;
  let cancelled: Retrohunt | null = null;
  /** The keys of the store's objects under `prefix`. */
  const keysUnder = async (prefix: string): Promise<string[]> => {
    const keys: string[] = [];
    for await (const object of store.list(prefix)) keys.push(object.key);
    return keys;
  };

  before(async () => {
    service = new TestService({
      env: { SCAN_CONCURRENCY: '2', RETROHUNT_CONCURRENCY: '1', RETROHUNT_BATCH_SIZE: '100' },
      checkAnswers: true,
    });
    await service.start();
    analyst = await service.token('analyst', 'hunter');
    agent = await service.token('agent');
    store = await createObjectStore(service.storageUrl);

    // 50 through the API (scanned by the active default ruleset), 5 of them marked.
    for (let i = 0; i < SUBMITTED; i += 1) {
      const offset = i % 10 === 0 ? 100 + i : null;
      const bytes = sampleBytes(offset);
      const res = await service.submit(bytes, fileMetadata(bytes), agent);
      assert.equal(res.status, 201, await res.clone().text());
      submitted.push(sha256(bytes));
      if (offset !== null) marked.set(sha256(bytes), offset);
      totalBytes += bytes.length;
    }
    // The rest straight into storage and the database, as older samples already scanned clean.
    const seeded = Array.from({ length: SEEDED }, (_, i) => {
      const offset = i % 37 === 0 ? 1000 + (i % 500) : null;
      const bytes = sampleBytes(offset);
      if (offset !== null) marked.set(sha256(bytes), offset);
      totalBytes += bytes.length;
      return bytes;
    });
    await seedScannedSamples(service, seeded);
    await pollUntil(
      async () => {
        const [row] = await query<{ n: string }>(
          service.databaseUrl,
          `select count(*) as n from samples where scan_status = 'scanned' and latest_scan_id is not null`,
        );
        return Number(row?.n) === SUBMITTED ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250, what: 'the submitted samples to be scanned' },
    );
  });
  after(async () => {
    await service.stop();
  });

  async function createHunt(source: string, token = analyst): Promise<Retrohunt> {
    const res = await service.request('/v1/retrohunts', { method: 'POST', token, ...json({ source }) });
    assert.equal(res.status, 201, await res.clone().text());
    return (await res.json()) as Retrohunt;
  }

  async function getHunt(id: string, search = ''): Promise<RetrohuntDetail> {
    const res = await service.request(`/v1/retrohunts/${id}${search}`, { token: analyst });
    assert.equal(res.status, 200, await res.clone().text());
    return (await res.json()) as RetrohuntDetail;
  }

  const verdictSnapshot = async () =>
    query<{ sha256: string; verdict: string | null; latest_scan_id: string | null; scan_status: string }>(
      service.databaseUrl,
      'select sha256, verdict, latest_scan_id, scan_status from samples order by sha256',
    );

  it('refuses rules that do not compile, even beside good ones, with their diagnostics, and non-analysts', async () => {
    const bad = await service.request('/v1/retrohunts', {
      method: 'POST',
      token: analyst,
      ...json({ source: 'rule broken { condition: nope }' }),
    });
    assert.equal(bad.status, 400);
    // A hunt runs every rule it is given, or none: one rule dropped would be a hunt nobody asked for.
    const [huntsBefore] = await query<{ n: string }>(
      service.databaseUrl,
      'select count(*) as n from retrohunts',
    );
    const partly = await service.request('/v1/retrohunts', {
      method: 'POST',
      token: analyst,
      ...json({ source: 'rule good { condition: true }\nrule bad { condition: nope }\n' }),
    });
    assert.equal(partly.status, 400, await partly.clone().text());
    const { error } = (await partly.json()) as {
      error: { code: string; message: string; details?: { diagnostics?: unknown } };
    };
    assert.equal(error.code, 'VALIDATION_FAILED');
    assert.match(error.message, /1 of the 2 rules does not compile/);
    const diagnostics = error.details?.diagnostics as Array<{ line: number; severity: string }>;
    assert.deepEqual(
      diagnostics.map((d) => [d.line, d.severity]),
      [[2, 'error']],
    );
    const [huntsAfter] = await query<{ n: string }>(
      service.databaseUrl,
      'select count(*) as n from retrohunts',
    );
    assert.equal(huntsAfter?.n, huntsBefore?.n, 'no hunt was made');
    const byAgent = await service.request('/v1/retrohunts', {
      method: 'POST',
      token: agent,
      ...json({ source: huntSource }),
    });
    assert.equal(byAgent.status, 403);
    assert.equal((await service.request('/v1/retrohunts/not-a-uuid', { token: analyst })).status, 404);
  });

  it('hunts over every retained sample: progress up to the total, exactly the marked samples, no verdict changed', async () => {
    const snapshot = await verdictSnapshot();
    const [scansBefore] = await query<{ n: string }>(service.databaseUrl, 'select count(*) as n from scans');
    const created = await createHunt(huntSource);
    assert.equal(created.status, 'queued');
    assert.equal(created.ruleCount, 2);
    assert.equal(created.progress.total, SUBMITTED + SEEDED);

    const seen: number[] = [];
    const done = await pollUntil(
      async () => {
        const hunt = await getHunt(created.id, '?limit=1');
        if (seen.at(-1) !== hunt.progress.scanned) seen.push(hunt.progress.scanned);
        return hunt.status === 'done' ? hunt : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 50, what: 'the retrohunt to finish' },
    );
    assert.deepEqual(done.progress, {
      scanned: SUBMITTED + SEEDED,
      timedOut: 0,
      total: SUBMITTED + SEEDED,
      bytes: totalBytes,
    });
    assert.ok(seen.length >= 3, `progress seen: ${seen.join(', ')}`);
    assert.deepEqual(
      seen,
      [...seen].sort((a, b) => a - b),
      'progress never goes back',
    );
    assert.equal(done.matchCount, marked.size);
    const full = (await (
      await service.request(`/v1/retrohunts/${created.id}?limit=1`, { token: analyst })
    ).json()) as RetrohuntDetail & { source?: string };
    assert.equal(full.source, huntSource);
    const bare = (await (
      await service.request(`/v1/retrohunts/${created.id}?limit=1&source=false`, { token: analyst })
    ).json()) as RetrohuntDetail & { source?: string };
    assert.equal(bare.source, undefined);
    assert.deepEqual({ ...bare, source: huntSource }, full);
    // The compiled rules the API left for the scanner were taken (loaded, then removed) before `done`.
    assert.deepEqual(await keysUnder(retrohuntRulesPrefix(created.id)), []);

    // Every match, page by page.
    const found = new Map<string, number>();
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await getHunt(created.id, `?limit=17${cursor === null ? '' : `&cursor=${cursor}`}`);
      for (const m of page.matches) {
        assert.equal(m.rule, 'hunt_marker');
        assert.equal(found.has(m.sha256), false, `${m.sha256} listed twice`);
        found.set(m.sha256, m.strings[0]?.offset ?? -1);
      }
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor !== null);
    assert.ok(pages > 1);
    assert.deepEqual(new Map([...found].sort()), new Map([...marked].sort()));

    assert.deepEqual(await verdictSnapshot(), snapshot);
    const [scansAfter] = await query<{ n: string }>(service.databaseUrl, 'select count(*) as n from scans');
    assert.equal(scansAfter?.n, scansBefore?.n);

    const list = (await (await service.request('/v1/retrohunts', { token: analyst })).json()) as Retrohunt[];
    assert.ok(list.some((h) => h.id === created.id && h.status === 'done'));
    const audit = await query(
      service.databaseUrl,
      `select 1 from audit_log where action = 'retrohunt.create' and target_id = $1 and actor_name = 'hunter'`,
      [created.id],
    );
    assert.equal(audit.length, 1);
  });

  it('keeps ingest scans flowing while a retrohunt runs, and a cancel stops it midway', async () => {
    const hunt = await createHunt(slowSource);
    await pollUntil(async () => ((await getHunt(hunt.id)).status === 'running' ? true : undefined), {
      timeoutMs: 30_000,
      what: 'the slow retrohunt to start',
    });
    const fresh: string[] = [];
    for (let i = 0; i < 4; i += 1) {
      const bytes = benign(2048);
      const res = await service.submit(bytes, fileMetadata(bytes), agent);
      assert.equal(res.status, 201);
      fresh.push(((await res.json()) as { submissionId: string }).submissionId);
    }
    for (const id of fresh) {
      await pollUntil(
        async () => {
          const res = await service.request(`/v1/submissions/${id}`);
          const body = (await res.json()) as { status: string };
          return body.status === 'scanned' ? true : undefined;
        },
        { timeoutMs: 30_000, what: `ingest scan of ${id}` },
      );
    }
    const during = await getHunt(hunt.id);
    assert.equal(during.status, 'running', 'the ingest scans finished while the retrohunt was still running');
    assert.ok(during.progress.scanned < during.progress.total);

    // Rules an API replica with another libyara stored (so under another tag): the cancel removes them too.
    await store.put(retrohuntRulesKey(hunt.id, '9.9.9-0123456789abcdef'), Readable.from([Buffer.from('x')]));
    const res = await service.request(`/v1/retrohunts/${hunt.id}/cancel`, { method: 'POST', token: analyst });
    assert.equal(res.status, 200, await res.clone().text());
    cancelled = (await res.json()) as Retrohunt;
    assert.equal(cancelled.status, 'cancelled');
    assert.ok(cancelled.progress.scanned < cancelled.progress.total);
    assert.deepEqual(
      await keysUnder(retrohuntRulesPrefix(hunt.id)),
      [],
      'no stored rules of the cancelled retrohunt are left, under any tag',
    );
    const again = await service.request(`/v1/retrohunts/${hunt.id}/cancel`, {
      method: 'POST',
      token: analyst,
    });
    assert.equal(again.status, 409);
    const audit = await query(
      service.databaseUrl,
      `select 1 from audit_log where action = 'retrohunt.cancel' and target_id = $1`,
      [hunt.id],
    );
    assert.equal(audit.length, 1);
  });

  it('skips a sample libyara cannot read instead of failing the hunt, and does not replay retrohunt jobs', async () => {
    const hash = submitted[2];
    assert.ok(hash !== undefined);
    const path = store.localPath(sampleKey(hash));
    assert.ok(path !== null, 'the fs driver');
    const bytes = await readFile(path);
    // Not a regular file any more: libyara refuses it. The hunt used to fail at this sample, all of it.
    await rm(path);
    await mkdir(path);
    try {
      const created = await createHunt('rule Every_Sample { condition: true }');
      const done = await pollUntil(
        async () => {
          const hunt = await getHunt(created.id, '?limit=1');
          assert.notEqual(hunt.status, 'failed', hunt.error ?? '');
          return hunt.status === 'done' ? hunt : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 100, what: 'the retrohunt to finish' },
      );
      assert.equal(done.progress.scanned, done.progress.total);
      assert.equal(done.matchCount, done.progress.total - 1, 'every sample but the unreadable one');
    } finally {
      await rm(path, { recursive: true });
      await writeFile(path, bytes);
    }
    // A failed retrohunt's job would find its hunt failed and do nothing: refused, with what to do.
    const replay = await service.request('/v1/admin/jobs/failed/replay', {
      method: 'POST',
      ...json({ queue: 'retrohunt' }),
    });
    assert.equal(replay.status, 409, await replay.clone().text());
    assert.match(
      ((await replay.json()) as { error: { message: string } }).error.message,
      /start a failed retrohunt again with POST \/v1\/retrohunts.*retro-scan batch or check is retried by the scanner/,
    );
  });

  it('lists a failed scan job with its reason and replays it once the object is back', async () => {
    const hash = submitted[1];
    assert.ok(hash !== undefined);
    const bytes = await new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      store
        .get(sampleKey(hash))
        .then((stream) =>
          stream
            .on('data', (c: Buffer) => chunks.push(c))
            .on('end', () => resolve(Buffer.concat(chunks)))
            .on('error', reject),
        )
        .catch(reject);
    });
    await store.delete(sampleKey(hash));
    const rescan = await service.request(`/v1/samples/${hash}/rescan`, { method: 'POST', token: analyst });
    assert.equal(rescan.status, 202);
    const { jobId } = (await rescan.json()) as { jobId: string };

    const failed = await pollUntil(
      async () => {
        const res = await service.request('/v1/admin/jobs/failed?queue=scan');
        assert.equal(res.status, 200);
        const jobs = (await res.json()) as FailedJob[];
        return jobs.find((j) => j.id === jobId);
      },
      { timeoutMs: 30_000, what: 'the rescan job to fail' },
    );
    assert.equal(failed.data.sha256, hash);
    assert.match(failed.failedReason, /missing/);
    assert.equal(failed.attemptsMade, 1);
    const forbidden = await service.request('/v1/admin/jobs/failed?queue=scan', { token: analyst });
    assert.equal(forbidden.status, 403);
    const badQueue = await service.request('/v1/admin/jobs/failed?queue=nope');
    assert.equal(badQueue.status, 400);

    await store.put(sampleKey(hash), Readable.from([bytes]));
    const replay = await service.request('/v1/admin/jobs/failed/replay', {
      method: 'POST',
      ...json({ queue: 'scan', ids: [jobId, 'no-such-job'] }),
    });
    assert.equal(replay.status, 200, await replay.clone().text());
    assert.deepEqual(await replay.json(), { queue: 'scan', replayed: [jobId], notFailed: ['no-such-job'] });
    await pollUntil(
      async () => {
        const [row] = await query<{ scan_status: string }>(
          service.databaseUrl,
          'select scan_status from samples where sha256 = $1',
          [hash],
        );
        return row?.scan_status === 'scanned' ? true : undefined;
      },
      { timeoutMs: 30_000, what: 'the replayed scan to succeed' },
    );
    const jobs = (await (await service.request('/v1/admin/jobs/failed?queue=scan')).json()) as FailedJob[];
    assert.equal(
      jobs.some((j) => j.id === jobId),
      false,
    );
    const audit = await query(
      service.databaseUrl,
      `select details from audit_log where action = 'jobs.replay'`,
    );
    assert.equal(audit.length, 1);
  });

  it('re-scans old samples on an activation with retroscan, fresh ingest first', async () => {
    const created = await service.request('/v1/rulesets', {
      method: 'POST',
      token: analyst,
      ...json({
        name: 'markers',
        source: `rule marker_malware\n{\n  meta: score = 90\n  strings: $m = "${MARKER}"\n  condition: $m\n}\n`,
      }),
    });
    assert.equal(created.status, 201);
    const { id } = (await created.json()) as { id: string };
    const activated = await service.request(`/v1/rulesets/${id}/activate`, {
      method: 'POST',
      ...json({ retroscan: true }),
    });
    assert.equal(activated.status, 200, await activated.clone().text());

    // A fresh sample submitted now is scanned before the retro-scan is through (with whichever version the
    // scanner holds at that instant: it is not part of the retro-scan, which covers samples stored before).
    const bytes = sampleBytes(10);
    const res = await service.submit(bytes, fileMetadata(bytes), agent);
    assert.equal(res.status, 201);
    const { submissionId } = (await res.json()) as { submissionId: string };
    await pollUntil(
      async () => {
        const s = (await (await service.request(`/v1/submissions/${submissionId}`)).json()) as {
          status: string;
          verdict: string | null;
        };
        return s.status === 'scanned' ? s : undefined;
      },
      { timeoutMs: 30_000, what: 'the fresh sample to be scanned' },
    );
    const fresh = sha256(bytes);
    const [left] = await query<{ n: string }>(
      service.databaseUrl,
      `select count(*) as n from samples s where s.sha256 <> $2 and not exists
         (select 1 from scans c where c.sample_sha256 = s.sha256 and c.ruleset_id = $1)`,
      [id, fresh],
    );
    assert.ok(Number(left?.n) > 0, 'the fresh sample was not kept waiting behind the retro-scan');

    const verdicts = await pollUntil(
      async () => {
        const rows = await query<{ sha256: string; verdict: string | null; n: string }>(
          service.databaseUrl,
          `select s.sha256, s.verdict,
             (select count(*) from scans c where c.sample_sha256 = s.sha256 and c.ruleset_id = $1) as n
           from samples s where s.sha256 <> $2`,
          [id, fresh],
        );
        return rows.every((r) => Number(r.n) >= 1) ? rows : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 500, what: 'every sample to be re-scanned' },
    );
    for (const row of verdicts) {
      const expected = marked.has(row.sha256) ? 'malicious' : 'clean';
      assert.equal(row.verdict, expected, row.sha256);
    }
    const audit = await query<{ details: { retroscan: boolean } }>(
      service.databaseUrl,
      `select details from audit_log where action = 'ruleset.activate' and target_id = $1`,
      [id],
    );
    assert.equal(audit[0]?.details.retroscan, true);
  });

  it('a cancelled retrohunt stays stopped', async () => {
    assert.ok(cancelled !== null);
    const hunt = await getHunt(cancelled.id);
    assert.equal(hunt.status, 'cancelled');
    assert.deepEqual(hunt.progress, cancelled.progress);
  });

  it('sweeps stored rules of retrohunts that are over, and of no retrohunt once an hour old', async () => {
    assert.ok(cancelled !== null);
    const tag = '9.9.9-0123456789abcdef';
    const body = () => Readable.from([Buffer.from('compiled rules')]);
    // Stored after the end (a slow store the re-drive did not wait for): the end's removal missed them.
    const over = retrohuntRulesKey(cancelled.id, tag);
    // An API still committing its retrohunt, and one that crashed before it did, an hour and more ago.
    const creating = retrohuntRulesKey(randomUUID(), tag);
    const crashed = retrohuntRulesKey(randomUUID(), tag);
    for (const key of [over, creating, crashed]) await store.put(key, body());
    const path = store.localPath(crashed);
    assert.ok(path !== null, 'the e2e store is on this filesystem');
    const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000);
    await utimes(path, twoHoursAgo, twoHoursAgo);

    const maintenance = new Queue(QueueName.Maintenance, {
      connection: { url: service.env.REDIS_URL ?? '' },
      prefix: service.queuePrefix,
    });
    try {
      const job = await maintenance.add(
        JobName.RetrohuntRulesSweep,
        {},
        { jobId: `rules-sweep-${randomUUID()}` },
      );
      const counts = await pollUntil(
        async () => {
          const state = await job.getState();
          assert.notEqual(state, 'failed', `the sweep failed: ${service.output()}`);
          if (state !== 'completed') return undefined;
          return (await maintenance.getJob(job.id ?? ''))?.returnvalue as { removed: number; kept: number };
        },
        { timeoutMs: 30_000, what: 'the retrohunt-rules sweep' },
      );
      assert.ok(counts.removed >= 2, JSON.stringify(counts));
    } finally {
      await maintenance.close();
    }
    assert.equal(await store.stat(over), null, 'rules of a cancelled retrohunt are removed');
    assert.equal(await store.stat(crashed), null, 'rules of no retrohunt, over an hour old, are removed');
    assert.notEqual(await store.stat(creating), null, 'fresh rules of no retrohunt (yet) stay');
    await store.delete(creating);
  });
});
