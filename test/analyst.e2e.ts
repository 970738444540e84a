import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { sampleKey } from '#storage';
import { EICAR, TestService, benign, fileMetadata, md5, pollUntil, query, sha1, sha256 } from '#test-support';

const run = promisify(execFile);
const PSEUDONYM_KEY = 'analyst-e2e-pseudonym-key-0123456789abcdef';

interface ErrorBody {
  error: { code: string; message: string; details?: { issues?: { field: string }[] } };
}
interface Page<T> {
  items: T[];
  nextCursor: string | null;
}
interface Summary {
  sha256: string;
  md5: string;
  sha1: string;
  size: number;
  kind: string;
  verdict: string | null;
  firstSeen: string;
}

/**
 * 150 samples with known spreads: kinds and verdicts cycle, sizes grow, first-seen times come in groups
 * of five identical timestamps (ties broken by sha256) and differ by one microsecond between odd and even
 * rows (a millisecond cursor would skip or repeat those); file types cycle too. Every tenth sample has two
 * scans: an older one matching Seed_Old and the latest matching Seed_Rule with the tag seedtag.
 */
const SEED_SQL = `
do $$
declare
  rs uuid := (select id from rulesets where status = 'active');
  h text; old_scan uuid; new_scan uuid; fs timestamptz;
begin
  for i in 1..150 loop
    h := encode(sha256(convert_to('seed-' || i, 'UTF8')), 'hex');
    fs := timestamptz '2026-01-01 00:00:00Z' + (i / 5) * interval '1 hour' + (i % 2) * interval '1 microsecond';
    insert into samples (sha256, sha1, md5, size, kind, object_key, first_seen, last_seen, sightings, scan_status, verdict,
      file_type)
    values (h, left(encode(sha512(convert_to('seed-' || i, 'UTF8')), 'hex'), 40), md5('seed-' || i), i * 100,
      (array['file', 'file-fragment', 'memory-region', 'boot-record'])[1 + i % 4],
      'samples/' || substr(h, 1, 2) || '/' || substr(h, 3, 2) || '/' || h,
      fs, fs + i * interval '1 day', 1, 'scanned',
      (array['clean', 'suspicious', 'malicious'])[1 + i % 3],
      (array['pe', 'elf', 'pdf', 'script', 'archive'])[1 + i % 5]);
    if i % 10 = 0 then
      insert into scans (sample_sha256, ruleset_id, status, verdict, duration_ms, started_at, finished_at)
        values (h, rs, 'scanned', 'suspicious', 3, fs, fs) returning id into old_scan;
      insert into matches (scan_id, rule, namespace, tags, meta, strings)
        values (old_scan, 'Seed_Old', 'default', array['oldtag'], '{}', '[]');
      insert into scans (sample_sha256, ruleset_id, status, verdict, duration_ms, started_at, finished_at)
        values (h, rs, 'scanned', 'malicious', 4, fs + interval '1 minute', fs + interval '1 minute')
        returning id into new_scan;
      insert into matches (scan_id, rule, namespace, tags, meta, strings)
        values (new_scan, 'Seed_Rule', 'default', array['seedtag', 'other'], '{"score": 90}',
          '[{"identifier": "$a", "offset": 16, "length": 4}]');
      update samples set latest_scan_id = new_scan where sha256 = h;
    end if;
  end loop;
end $$;`;

describe('analyst API', () => {
  let service: TestService;
  let agent = '';
  let analyst = '';
  let storageDir = '';
  const eicar = sha256(EICAR);
  let benignBytes: Buffer = Buffer.alloc(0);

  async function getJson<T>(
    path: string,
    token: string | null = analyst,
  ): Promise<{ status: number; body: T }> {
    const res = await service.request(path, { token });
    return { status: res.status, body: (await res.json()) as T };
  }

  /** POSTs JSON as the admin (or `token`), expecting `status`; returns the parsed body. */
  async function post<T>(path: string, body: unknown, status: number, token?: string): Promise<T> {
    const res = await service.request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      ...(token === undefined ? {} : { token }),
    });
    assert.equal(res.status, status, `${path}: ${await res.clone().text()}`);
    return (await res.json()) as T;
  }

  /** An agent enrolled with `country` that has consented to submit. */
  async function enrolledAgent(country: string): Promise<{ agentId: string; apiKey: string }> {
    const { token } = await post<{ token: string }>(
      '/v1/enrollment-tokens',
      { ttlSeconds: 600, maxUses: 1 },
      201,
    );
    const enrolled = await post<{ agentId: string; apiKey: string }>(
      '/v1/agents/enroll',
      {
        enrollmentToken: token,
        product: { name: 'Specimen Agent', version: '1.0.0' },
        os: { family: 'windows', version: '10.0' },
        country,
      },
      201,
    );
    const res = await service.request('/v1/agents/me/consent', {
      method: 'PUT',
      token: enrolled.apiKey,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ participating: true, statementVersion: '2026-01' }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    return enrolled;
  }

  /** Every page of a search, following nextCursor; `between` runs before each further page. */
  async function allPages(params: string, between?: () => Promise<void>): Promise<Summary[]> {
    const items: Summary[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 200; pages++) {
      const path: string = `/v1/samples?${params}${cursor === null ? '' : `&cursor=${cursor}`}`;
      const { status, body } = await getJson<Page<Summary>>(path);
      assert.equal(status, 200, JSON.stringify(body));
      items.push(...body.items);
      if (body.nextCursor === null) return items;
      cursor = body.nextCursor;
      await between?.();
    }
    throw new Error('too many pages');
  }

  async function expected(where: string, orderBy = 'first_seen desc, sha256 desc'): Promise<string[]> {
    const rows = await query<{ sha256: string }>(
      service.databaseUrl,
      `select sha256 from samples s where ${where} order by ${orderBy}`,
    );
    return rows.map((r) => r.sha256);
  }

  before(async () => {
    service = new TestService({ env: { PSEUDONYM_KEY }, checkAnswers: true });
    await service.start();
    storageDir = service.storageDir ?? '';
    agent = await service.token('agent', 'agent-one');
    analyst = await service.token('analyst', 'analyst-one');
    benignBytes = benign(3000);
    const submitted: string[] = [];
    for (const [bytes, meta] of [
      [EICAR, fileMetadata(EICAR, { filename: 'eicar.com' })],
      [benignBytes, fileMetadata(benignBytes, { filename: 'first.bin' })],
      [benignBytes, fileMetadata(benignBytes, { filename: 'second.bin' })],
    ] as const) {
      const res = await service.submit(bytes, meta, agent);
      assert.ok(res.status === 200 || res.status === 201, await res.clone().text());
      submitted.push(((await res.json()) as { submissionId: string }).submissionId);
    }
    await pollUntil(
      async () => {
        const rows = await query<{ n: string }>(
          service.databaseUrl,
          `select count(*) as n from samples where scan_status = 'scanned'`,
        );
        return Number(rows[0]?.n) === 2 ? true : undefined;
      },
      { what: 'both submitted samples scanned' },
    );
    await query(service.databaseUrl, SEED_SQL);
  });
  after(() => service.stop());

  describe('search', () => {
    it('pages through every sample in first-seen order without a gap or a duplicate', async () => {
      const got = await allPages('limit=7');
      assert.deepEqual(
        got.map((s) => s.sha256),
        await expected('true'),
      );
      const asc = await allPages('limit=9&order=asc');
      assert.deepEqual(
        asc.map((s) => s.sha256),
        await expected('true', 'first_seen asc, sha256 asc'),
      );
    });

    it('sorts by size and by last seen', async () => {
      const bySize = await allPages('sort=size&order=asc&limit=11');
      assert.deepEqual(
        bySize.map((s) => s.sha256),
        await expected('true', 'size asc, sha256 asc'),
      );
      const byLast = await allPages('sort=lastSeen&limit=13');
      assert.deepEqual(
        byLast.map((s) => s.sha256),
        await expected('true', 'last_seen desc, sha256 desc'),
      );
    });

    it('finds a sample by md5, sha1 or sha256 in any case', async () => {
      for (const hash of [md5(EICAR).toUpperCase(), sha1(EICAR), eicar.toUpperCase()]) {
        const { status, body } = await getJson<Page<Summary>>(`/v1/samples?hash=${hash}`);
        assert.equal(status, 200);
        assert.deepEqual(
          body.items.map((s) => s.sha256),
          [eicar],
        );
      }
      const none = await getJson<Page<Summary>>(`/v1/samples?hash=${'0'.repeat(64)}`);
      assert.deepEqual(none.body, { items: [], nextCursor: null });
    });

    it('filters by kind, verdict, size and time ranges, alone and combined', async () => {
      const cases: [string, string][] = [
        ['kind=boot-record', `kind = 'boot-record'`],
        ['verdict=malicious', `verdict = 'malicious'`],
        ['sizeMin=1000&sizeMax=2500', 'size between 1000 and 2500'],
        [
          'firstSeenFrom=2026-01-02T00:00:00Z&firstSeenTo=2026-01-03T00:00:00.000001Z',
          `first_seen between '2026-01-02T00:00:00Z' and '2026-01-03T00:00:00.000001Z'`,
        ],
        [
          'lastSeenFrom=2026-03-01T00:00:00Z&lastSeenTo=2026-04-01T00:00:00Z',
          `last_seen between '2026-03-01T00:00:00Z' and '2026-04-01T00:00:00Z'`,
        ],
        ['kind=file&verdict=clean&sizeMin=3000', `kind = 'file' and verdict = 'clean' and size >= 3000`],
      ];
      for (const [params, where] of cases) {
        const want = await expected(where);
        assert.ok(want.length > 0, `${params} selects something`);
        const got = await allPages(`${params}&limit=6`);
        assert.deepEqual(
          got.map((s) => s.sha256),
          want,
          params,
        );
      }
    });

    it("filters by a rule or tag of the sample's latest scan only", async () => {
      const latest = await expected(
        `exists (select 1 from matches m where m.scan_id = s.latest_scan_id and m.rule = 'Seed_Rule')`,
      );
      assert.equal(latest.length, 15);
      assert.deepEqual(
        (await allPages('rule=Seed_Rule&limit=4')).map((s) => s.sha256),
        latest,
      );
      assert.deepEqual(
        (await allPages('tag=seedtag&limit=4')).map((s) => s.sha256),
        latest,
      );
      assert.deepEqual(await allPages('rule=Seed_Old'), []);
      assert.deepEqual(await allPages('tag=oldtag'), []);
      const eicarRule = await getJson<Page<Summary>>('/v1/samples?rule=EICAR_Test_File');
      assert.deepEqual(
        eicarRule.body.items.map((s) => s.sha256),
        [eicar],
      );
      assert.equal(
        (await allPages('tag=seedtag&verdict=malicious&kind=file')).length,
        await expected(
          `kind = 'file' and verdict = 'malicious' and exists (select 1 from matches m where m.scan_id = s.latest_scan_id and 'seedtag' = any(m.tags))`,
        ).then((r) => r.length),
      );
    });

    it('filters by file type, alone and combined', async () => {
      for (const [params, where] of [
        ['fileType=pe', `file_type = 'pe'`],
        ['fileType=elf&verdict=clean', `file_type = 'elf' and verdict = 'clean'`],
        ['fileType=archive&kind=file&sort=size', `file_type = 'archive' and kind = 'file'`],
      ] as const) {
        const want = await expected(
          where,
          params.includes('sort=size') ? 'size desc, sha256 desc' : 'first_seen desc, sha256 desc',
        );
        assert.ok(want.length > 0, `${params} selects something`);
        assert.deepEqual(
          (await allPages(`${params}&limit=6`)).map((s) => s.sha256),
          want,
          params,
        );
      }
      assert.deepEqual(await allPages('fileType=macho'), []);
    });

    it('filters by the country of the agents that sighted a sample, and forgets removed sightings', async () => {
      const fr = await enrolledAgent('fr');
      const jp = await enrolledAgent('JP');
      const onlyJapan = benign(700);
      for (const [bytes, key] of [
        [EICAR, fr.apiKey],
        [onlyJapan, jp.apiKey],
      ] as const) {
        const res = await service.submit(bytes, fileMetadata(bytes), key);
        assert.ok(res.status === 200 || res.status === 201, await res.clone().text());
      }
      // Sightings of seeded samples: every third from France, every fourth from Japan.
      for (const [agentId, every] of [
        [fr.agentId, 3],
        [jp.agentId, 4],
      ] as const) {
        await query(
          service.databaseUrl,
          `insert into submissions (sample_sha256, kind, metadata, submitter, country)
           select sha256, kind, '{}', a.pseudonym, a.country from agents a, samples
           where a.id = $1 and sha256 in (select sha256 from samples where md5 in (select md5('seed-' || i) from generate_series($2::int, 150, $2::int) i))`,
          [agentId, every],
        );
      }
      const sightedIn = (country: string) =>
        `exists (select 1 from submissions x join agents a on a.pseudonym = x.submitter
           where x.sample_sha256 = s.sha256 and a.country = '${country}')`;
      const france = await expected(sightedIn('FR'));
      assert.equal(france.length, 51, 'fifty seeded samples and EICAR');
      assert.ok(france.includes(eicar));
      assert.deepEqual(
        (await allPages('country=fr&limit=7')).map((s) => s.sha256),
        france,
      );
      const japan = await expected(sightedIn('JP'));
      assert.ok(japan.includes(sha256(onlyJapan)) && !france.includes(sha256(onlyJapan)));
      assert.deepEqual(
        (await allPages('country=JP&limit=7')).map((s) => s.sha256),
        japan,
      );
      assert.deepEqual(
        (await allPages('country=JP&verdict=malicious&limit=3')).map((s) => s.sha256),
        await expected(`verdict = 'malicious' and ${sightedIn('JP')}`),
      );
      assert.deepEqual(await allPages('country=US'), []);

      // Sightings removed (as the consent purge does): France no longer lists those samples, Japan still does.
      const removed = await query<{ sample_sha256: string }>(
        service.databaseUrl,
        `delete from submissions where submitter = (select pseudonym from agents where id = $1)
           and sample_sha256 in (select sha256 from samples where md5 in
             (select md5('seed-' || i) from generate_series(12, 150, 12) i))
         returning sample_sha256`,
        [fr.agentId],
      );
      assert.equal(removed.length, 12);
      const franceAfter = (await allPages('country=FR&limit=9')).map((s) => s.sha256);
      assert.deepEqual(franceAfter, await expected(sightedIn('FR')));
      assert.equal(franceAfter.length, france.length - 12);
      const japanAfter = (await allPages('country=JP&limit=9')).map((s) => s.sha256);
      for (const { sample_sha256: h } of removed) {
        assert.ok(!franceAfter.includes(h) && japanAfter.includes(h), h);
      }
    });

    it('stays stable while new samples arrive between pages', async () => {
      for (const order of ['desc', 'asc'] as const) {
        const before = new Set(await expected('true'));
        let n = 0;
        const got = await allPages(`limit=8&order=${order}`, async () => {
          n += 1;
          // New samples (first seen now) and a new sighting of an old one (its first_seen does not move).
          await query(
            service.databaseUrl,
            `insert into samples (sha256, sha1, md5, size, kind, object_key)
             select h, left(h, 40), left(h, 32), 1, 'file', 'samples/x/' || h
             from (select encode(sha256(convert_to($1 || g, 'UTF8')), 'hex') as h from generate_series(1, 3) g) t`,
            [`arrival-${order}-${n}-`],
          );
          await service.submit(benignBytes, fileMetadata(benignBytes), agent);
        });
        const seen = got.map((s) => s.sha256);
        assert.equal(new Set(seen).size, seen.length, 'no duplicates');
        for (const h of before) assert.ok(seen.includes(h), `no gap: ${h} is listed`);
        assert.ok(n > 10);
      }
    });

    it('refuses bad parameters with 400 naming each one', async () => {
      for (const [params, field] of [
        ['kind=exe', 'query.kind'],
        ['verdict=bad', 'query.verdict'],
        ['hash=abc', 'query.hash'],
        ['limit=501', 'query.limit'],
        ['limit=0', 'query.limit'],
        ['sizeMin=-1', 'query.sizeMin'],
        ['sizeMin=', 'query.sizeMin'],
        ['sizeMin=0x16', 'query.sizeMin'],
        ['limit=1e2', 'query.limit'],
        ['limit=%207', 'query.limit'],
        ['sizeMin=10&sizeMax=5', 'query.sizeMax'],
        ['firstSeenFrom=yesterday', 'query.firstSeenFrom'],
        // Years PostgreSQL does not read as the ISO text the query sends (they were 500s).
        ['firstSeenFrom=0000-01-01T00:00:00Z', 'query.firstSeenFrom'],
        ['lastSeenTo=0001-01-01T00:00:00%2B01:00', 'query.lastSeenTo'],
        ['firstSeenTo=9999-12-31T23:59:59.999-01:00', 'query.firstSeenTo'],
        // Swapped bounds are a mistake to say (they answered an empty page).
        ['firstSeenFrom=2026-02-01T00:00:00Z&firstSeenTo=2026-01-01T00:00:00Z', 'query.firstSeenTo'],
        ['lastSeenFrom=2026-02-01T00:00:00Z&lastSeenTo=2026-01-01T00:00:00Z', 'query.lastSeenTo'],
        ['sort=name', 'query.sort'],
        ['order=up', 'query.order'],
        ['cursor=bm90LWpzb24', 'query.cursor'],
        ['fileType=exe', 'query.fileType'],
        ['country=FRA', 'query.country'],
        ['colour=red', 'query.colour'],
      ] as const) {
        const { status, body } = await getJson<ErrorBody>(`/v1/samples?${params}`);
        assert.equal(status, 400, params);
        assert.equal(body.error.code, 'VALIDATION_FAILED');
        assert.ok(
          body.error.details?.issues?.some((i) => i.field === field),
          `${params}: ${JSON.stringify(body.error.details)}`,
        );
      }
      // A number past the bound is said once, as the bound, however many digits it has.
      for (const huge of ['99999999999999999', '9007199254740992', '501']) {
        const { status, body } = await getJson<ErrorBody>(`/v1/samples?limit=${huge}`);
        assert.equal(status, 400);
        const issues = body.error.details?.issues as { field: string; message: string }[] | undefined;
        assert.deepEqual(
          issues?.map((i) => [i.field, i.message]),
          [['query.limit', 'must be at most 500']],
          huge,
        );
      }
      const page = await getJson<Page<Summary>>('/v1/samples?limit=2');
      const other = await getJson<ErrorBody>(`/v1/samples?sort=size&cursor=${page.body.nextCursor}`);
      assert.equal(other.status, 400, 'a cursor made for another sort');
      // A cursor edited by hand is a 400 like any bad cursor, not PostgreSQL's error about its cast (500).
      const forged = (position: unknown) => Buffer.from(JSON.stringify(position)).toString('base64url');
      const h = eicar;
      const id = '3489ff53-3ca7-4bc8-a6ed-87e695a11ed7';
      for (const path of [
        `/v1/samples?cursor=${forged({ s: 'firstSeen', o: 'desc', k: 'garbage', h })}`,
        `/v1/samples?cursor=${forged({ s: 'lastSeen', o: 'desc', k: '2026-13-40T25:61:61.000000Z', h })}`,
        `/v1/samples?sort=size&cursor=${forged({ s: 'size', o: 'desc', k: '99999999999999999999', h })}`,
        `/v1/samples?sort=size&cursor=${forged({ s: 'size', o: 'desc', k: '2026-11-30T00:00:00.000000Z', h })}`,
        `/v1/samples/${eicar}/submissions?cursor=${forged({ k: 'garbage', i: id })}`,
        `/v1/samples/${eicar}/scans?cursor=${forged({ k: '12', i: id })}`,
      ]) {
        const { status, body } = await getJson<ErrorBody>(path);
        assert.equal(status, 400, path);
        assert.ok(
          body.error.details?.issues?.some((i) => i.field === 'query.cursor'),
          path,
        );
      }
    });

    it('takes a time copied from an answer as an inclusive bound, though times are stored to the microsecond', async () => {
      // As the search shows them (the detail's last seen is the exact newest sighting; the searched column
      // moves at most once a minute).
      const found = await getJson<Page<Summary & { firstSeen: string; lastSeen: string }>>(
        `/v1/samples?hash=${eicar}`,
      );
      const shown = found.body.items[0];
      assert.ok(shown);
      for (const [from, to, at] of [
        ['firstSeenFrom', 'firstSeenTo', shown.firstSeen],
        ['lastSeenFrom', 'lastSeenTo', shown.lastSeen],
      ] as const) {
        const { body } = await getJson<Page<Summary>>(`/v1/samples?${from}=${at}&${to}=${at}`);
        assert.ok(
          body.items.some((x) => x.sha256 === eicar),
          `${from}=${to}=${at}`,
        );
      }
      // The latest bound there is: every sample (its next millisecond was a year PostgreSQL refused, a 500).
      const latest = await getJson<Page<Summary>>(
        '/v1/samples?firstSeenTo=9999-12-31T23:59:59.999Z&limit=500',
      );
      assert.equal(latest.status, 200, JSON.stringify(latest.body));
      assert.deepEqual(
        latest.body.items.map((s) => s.sha256),
        await expected('true'),
      );
      // Statistics days: no year 0000 (400, was a 500), and an early `to` gets a default window from 0001-01-01.
      const yearZero = await getJson<ErrorBody>('/v1/stats/overview?from=0000-01-01');
      assert.equal(yearZero.status, 400, JSON.stringify(yearZero.body));
      assert.ok(yearZero.body.error.details?.issues?.some((i) => i.field === 'query.from'));
      const early = await getJson<{ from: string; to: string; total: number }>(
        '/v1/stats/overview?to=0001-01-05',
      );
      assert.equal(early.status, 200, JSON.stringify(early.body));
      assert.deepEqual([early.body.from, early.body.to, early.body.total], ['0001-01-01', '0001-01-05', 0]);
    });
  });

  describe('detail', () => {
    it('lists sightings newest first with a keyed pseudonym, never the token id', async () => {
      const [token] = await query<{ id: string }>(
        service.databaseUrl,
        `select id from api_tokens where name = 'agent-one'`,
      );
      assert.ok(token);
      const h = sha256(benignBytes);
      const first = await getJson<Page<Record<string, unknown>>>(`/v1/samples/${h}/submissions?limit=2`);
      assert.equal(first.status, 200);
      assert.equal(first.body.items.length, 2);
      assert.ok(first.body.nextCursor);
      const pseudonym = createHmac('sha256', PSEUDONYM_KEY).update(token.id).digest('hex');
      const all: Record<string, unknown>[] = [...first.body.items];
      let cursor: string | null = first.body.nextCursor;
      while (cursor !== null) {
        const next: { body: Page<Record<string, unknown>> } = await getJson<Page<Record<string, unknown>>>(
          `/v1/samples/${h}/submissions?limit=2&cursor=${cursor}`,
        );
        all.push(...next.body.items);
        cursor = next.body.nextCursor;
      }
      const [{ n } = { n: '0' }] = await query<{ n: string }>(
        service.databaseUrl,
        'select count(*) as n from submissions where sample_sha256 = $1',
        [h],
      );
      assert.equal(all.length, Number(n));
      assert.equal(new Set(all.map((s) => s.id)).size, all.length);
      const times = all.map((s) => String(s.receivedAt));
      assert.deepEqual(times, [...times].sort().reverse());
      for (const s of all) {
        assert.equal(s.submitter, pseudonym);
        assert.equal(s.kind, 'file');
        assert.ok(typeof s.metadata === 'object');
      }
      assert.ok(all.some((s) => s.filename === 'first.bin'));
      assert.ok(!JSON.stringify(all).includes(token.id), 'the raw token id never appears');
    });

    it('lists the scan history with ruleset versions and match offsets', async () => {
      const eicarScans = await getJson<Page<Record<string, unknown>>>(`/v1/samples/${eicar}/scans`);
      assert.equal(eicarScans.status, 200);
      const [scan] = eicarScans.body.items as {
        ruleset: { name: string; version: number };
        status: string;
        verdict: string;
        durationMs: number;
        matches: { rule: string; strings: { offset: number }[] }[];
      }[];
      assert.ok(scan);
      assert.equal(scan.ruleset.version, 1);
      assert.equal(scan.status, 'scanned');
      assert.equal(scan.verdict, 'malicious');
      assert.ok(scan.matches.some((m) => m.rule === 'EICAR_Test_File' && m.strings[0]?.offset === 0));

      const seeded = (
        await expected(
          `exists (select 1 from matches m where m.scan_id = s.latest_scan_id and m.rule = 'Seed_Rule')`,
        )
      )[0];
      const history = await getJson<Page<{ verdict: string; matches: { rule: string }[] }>>(
        `/v1/samples/${seeded}/scans?limit=1`,
      );
      assert.equal(history.body.items[0]?.matches[0]?.rule, 'Seed_Rule');
      assert.ok(history.body.nextCursor);
      const older = await getJson<Page<{ matches: { rule: string }[] }>>(
        `/v1/samples/${seeded}/scans?limit=1&cursor=${history.body.nextCursor}`,
      );
      assert.equal(older.body.items[0]?.matches[0]?.rule, 'Seed_Old');
      assert.equal(older.body.nextCursor, null);

      assert.equal((await getJson(`/v1/samples/${'a'.repeat(64)}/scans`)).status, 404);
    });
  });

  describe('download', () => {
    it('streams an AES-256 ZIP that 7-Zip opens with the password, and audits it first', async () => {
      const res = await service.request(`/v1/samples/${eicar}/download`, { token: analyst });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'application/zip');
      assert.equal(res.headers.get('content-disposition'), `attachment; filename="${eicar}.zip"`);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(res.headers.get('cache-control'), 'no-store');
      const zip = Buffer.from(await res.arrayBuffer());
      assert.equal(res.headers.get('content-length'), String(zip.length));
      assert.ok(!zip.includes(EICAR.subarray(0, 20)), 'the sample is not in the clear');
      const dir = await mkdtemp(join(tmpdir(), 'specimen-unzip-'));
      try {
        await writeFile(join(dir, 'a.zip'), zip);
        const listing = await run('7z', ['l', '-slt', join(dir, 'a.zip')]);
        assert.match(listing.stdout, /Method = AES-256/);
        await run('7z', ['x', '-pinfected', `-o${join(dir, 'out')}`, join(dir, 'a.zip')]);
        assert.equal(sha256(await readFile(join(dir, 'out', eicar))), eicar);
        await assert.rejects(run('7z', ['x', '-pwrong', `-o${join(dir, 'bad')}`, join(dir, 'a.zip')]));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
      const audit = await getJson<Page<{ action: string; targetId: string; actorName: string }>>(
        '/v1/audit?action=sample.download',
        service.adminToken,
      );
      assert.ok(audit.body.items.some((a) => a.targetId === eicar && a.actorName === 'analyst-one'));
    });

    it('refuses the download, sending no byte of it, when the audit record cannot be written', async () => {
      const before = await query<{ n: string }>(service.databaseUrl, 'select count(*) as n from audit_log');
      await query(service.databaseUrl, 'alter table audit_log rename to audit_log_away');
      try {
        const res = await service.request(`/v1/samples/${eicar}/download`, { token: analyst });
        assert.equal(res.status, 503);
        assert.notEqual(res.headers.get('content-type'), 'application/zip');
        assert.equal(res.headers.get('content-disposition'), null);
        const body = (await res.json()) as ErrorBody;
        assert.equal(body.error.code, 'AUDIT_UNAVAILABLE');
      } finally {
        await query(service.databaseUrl, 'alter table audit_log_away rename to audit_log');
      }
      const after = await query<{ n: string }>(service.databaseUrl, 'select count(*) as n from audit_log');
      assert.equal(after[0]?.n, before[0]?.n);
      const again = await service.request(`/v1/samples/${eicar}/download`, { token: analyst });
      assert.equal(again.status, 200);
      await again.arrayBuffer();
    });

    it("answers HEAD with the download's headers, without a body or an audit record", async () => {
      const count = async () =>
        (
          await query<{ n: string }>(
            service.databaseUrl,
            `select count(*) as n from audit_log where action = 'sample.download'`,
          )
        )[0]?.n;
      const before = await count();
      const head = await service.request(`/v1/samples/${eicar}/download`, { token: analyst, method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal((await head.arrayBuffer()).byteLength, 0);
      assert.equal(await count(), before, 'no byte left: nothing to audit');
      const get = await service.request(`/v1/samples/${eicar}/download`, { token: analyst });
      const zip = Buffer.from(await get.arrayBuffer());
      for (const name of [
        'content-type',
        'content-disposition',
        'x-content-type-options',
        'cache-control',
        'content-length',
      ]) {
        assert.equal(head.headers.get(name), get.headers.get(name), name);
      }
      assert.equal(head.headers.get('content-length'), String(zip.length));
      const unknown = `/v1/samples/${'b'.repeat(64)}/download`;
      assert.equal((await service.request(unknown, { token: analyst, method: 'HEAD' })).status, 404);
      assert.equal(
        (await service.request(`/v1/samples/${eicar}/download`, { token: null, method: 'HEAD' })).status,
        401,
      );
    });

    it('answers 404 for an unknown sample and 400 for a malformed hash', async () => {
      assert.equal(
        (await service.request(`/v1/samples/${'b'.repeat(64)}/download`, { token: analyst })).status,
        404,
      );
      assert.equal((await service.request('/v1/samples/xyz/download', { token: analyst })).status, 400);
      // A sample whose object is gone: its state, not the storage's error naming the object's key.
      const gone = createHash('sha256').update(randomBytes(16)).digest('hex');
      await query(
        service.databaseUrl,
        `insert into samples (sha256, sha1, md5, size, kind, object_key) values ($1, $2, $3, 10, 'file', $4)`,
        [gone, gone.slice(0, 40), gone.slice(0, 32), sampleKey(gone)],
      );
      for (const path of [`/v1/samples/${gone}/download`, `/v1/samples/${gone}/preview`]) {
        const { status, body } = await getJson<ErrorBody & { error: { message: string } }>(path);
        assert.equal(status, 404, path);
        assert.equal(body.error.message, `the bytes of sample ${gone} are not in storage`);
        assert.equal(body.error.details, undefined, path);
      }
    });

    it('streams a 256 MiB sample in constant memory', async () => {
      const size = 256 * 1024 * 1024;
      const hash = createHash('sha256');
      const tmp = await mkdtemp(join(tmpdir(), 'specimen-big-'));
      try {
        const source = join(tmp, 'big.bin');
        const block = randomBytes(1024 * 1024);
        await pipeline(
          Readable.from(
            (function* () {
              for (let i = 0; i < size / block.length; i++) {
                block.writeUInt32LE(i, 0);
                hash.update(block);
                yield Buffer.from(block);
              }
            })(),
          ),
          createWriteStream(source),
        );
        const h = hash.digest('hex');
        const key = sampleKey(h);
        await mkdir(dirname(join(storageDir, key)), { recursive: true });
        await run('mv', [source, join(storageDir, key)]);
        await query(
          service.databaseUrl,
          `insert into samples (sha256, sha1, md5, size, kind, object_key) values ($1, $2, $3, $4, 'file', $5)`,
          [h, h.slice(0, 40), h.slice(0, 32), size, key],
        );
        const pid = service.api?.pid;
        assert.ok(pid !== undefined);
        const rss = async () => {
          const status = await readFile(`/proc/${pid}/status`, 'utf8');
          return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]) * 1024;
        };
        const baseline = await rss();
        let peak = baseline;
        // Peak during the first quarter of the transfer and during the rest: flat memory means the rest adds little.
        let firstQuarterPeak = baseline;
        let received = 0;
        const timer = setInterval(() => {
          rss()
            .then((r) => {
              peak = Math.max(peak, r);
              if (received < size / 4) firstQuarterPeak = Math.max(firstQuarterPeak, r);
            })
            .catch(() => undefined);
        }, 50);
        const started = Date.now();
        const zipPath = join(tmp, 'big.zip');
        let contentLength: string | null = null;
        try {
          const res = await service.request(`/v1/samples/${h}/download`, { token: analyst });
          assert.equal(res.status, 200);
          assert.ok(res.body);
          contentLength = res.headers.get('content-length');
          await pipeline(
            Readable.fromWeb(res.body as WebReadableStream<Uint8Array>),
            async function* (source: AsyncIterable<Buffer>) {
              for await (const chunk of source) {
                received += chunk.length;
                yield chunk;
              }
            },
            createWriteStream(zipPath),
          );
        } finally {
          clearInterval(timer);
        }
        const seconds = (Date.now() - started) / 1000;
        const zipSize = (await stat(zipPath)).size;
        assert.equal(contentLength, String(zipSize));
        const growth = peak - baseline;
        const mib = (n: number) => `${(n / 1024 / 1024).toFixed(0)} MiB`;
        console.log(
          `256 MiB download: ${(size / 1024 / 1024 / seconds).toFixed(1)} MiB/s, API RSS ${mib(baseline)}, ` +
            `peak ${mib(firstQuarterPeak)} in the first quarter, ${mib(peak)} overall, zip ${zipSize} bytes`,
        );
        // Each encrypted chunk is a fresh 256 KiB buffer freed only when the GC gets to it, so RSS drifts up
        // by tens of MiB before a collection (37 MiB seen on CI for the last three quarters); buffering the
        // sample would add the remaining 192 MiB.
        assert.ok(
          peak - firstQuarterPeak < 64 * 1024 * 1024,
          `memory stays flat after the first quarter (+${mib(peak - firstQuarterPeak)})`,
        );
        assert.ok(growth < 96 * 1024 * 1024, `RSS grew by ${mib(growth)}`);
        await run('7z', ['x', '-pinfected', `-o${join(tmp, 'out')}`, zipPath]);
        const out = createHash('sha256');
        await pipeline(
          (await import('node:fs')).createReadStream(join(tmp, 'out', h)),
          async function* (source: AsyncIterable<Buffer>) {
            for await (const chunk of source) out.update(chunk);
            yield* [];
          },
        );
        assert.equal(out.digest('hex'), h);
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
    });
  });

  describe('preview', () => {
    interface Preview {
      offset: number;
      length: number;
      size: number;
      rows: { offset: number; hex: string; ascii: string }[];
    }

    it('dumps 16-byte rows in hex and printable ASCII', async () => {
      const { status, body } = await getJson<Preview>(`/v1/samples/${eicar}/preview?offset=0&length=20`);
      assert.equal(status, 200);
      assert.equal(body.size, EICAR.length);
      assert.equal(body.length, 20);
      assert.equal(body.rows.length, 2);
      assert.deepEqual(body.rows[0], {
        offset: 0,
        hex: [...EICAR.subarray(0, 16)].map((b) => b.toString(16).padStart(2, '0')).join(' '),
        ascii: 'X5O!P%@AP[4\\PZX5',
      });
      assert.equal(body.rows[1]?.offset, 16);
      assert.equal(body.rows[1]?.ascii, '4(P^');
      const bin = await getJson<Preview>(`/v1/samples/${sha256(benignBytes)}/preview?offset=100&length=64`);
      assert.equal(bin.body.rows.length, 4);
      const bytes = benignBytes.subarray(100, 164);
      assert.equal(bin.body.rows.map((r) => r.hex.replaceAll(' ', '')).join(''), bytes.toString('hex'));
      assert.ok(bin.body.rows.every((r) => /^[\x20-\x7e]*$/.test(r.ascii)));
    });

    it('respects the bounds', async () => {
      const tail = await getJson<Preview>(`/v1/samples/${eicar}/preview?offset=60&length=100`);
      assert.equal(tail.body.length, 8);
      assert.equal(tail.body.rows[0]?.offset, 60);
      const end = await getJson<Preview>(`/v1/samples/${eicar}/preview?offset=${EICAR.length}`);
      assert.deepEqual(end.body, { offset: EICAR.length, length: 0, size: EICAR.length, rows: [] });
      const past = await getJson<Preview>(`/v1/samples/${eicar}/preview?offset=1000000`);
      assert.deepEqual(past.body.rows, []);
      const max = await getJson<Preview>(`/v1/samples/${eicar}/preview?length=65536`);
      assert.equal(max.status, 200);
      for (const [params, field] of [
        ['length=65537', 'query.length'],
        ['length=0', 'query.length'],
        ['offset=-1', 'query.offset'],
        ['offset=abc', 'query.offset'],
      ] as const) {
        const bad = await getJson<ErrorBody>(`/v1/samples/${eicar}/preview?${params}`);
        assert.equal(bad.status, 400, params);
        assert.ok(
          bad.body.error.details?.issues?.some((i) => i.field === field),
          params,
        );
      }
    });
  });

  describe('audit', () => {
    interface Audit {
      id: number;
      at: string;
      actorId: string | null;
      actorName: string;
      action: string;
    }

    it('lists records newest first, filtered by actor, action and time, page by page', async () => {
      await service.token('analyst', 'audit-probe-1');
      await service.token('agent', 'audit-probe-2');
      const all = await getJson<Page<Audit>>('/v1/audit?limit=500', service.adminToken);
      assert.equal(all.status, 200);
      const ids = all.body.items.map((a) => a.id);
      assert.deepEqual(
        ids,
        [...ids].sort((a, b) => b - a),
      );
      assert.ok(all.body.items.some((a) => a.action === 'token.create'));
      assert.ok(all.body.items.some((a) => a.action === 'sample.download'));

      const paged: number[] = [];
      let cursor: string | null = null;
      do {
        const path: string = `/v1/audit?limit=2&action=token.create${cursor === null ? '' : `&cursor=${cursor}`}`;
        const page = await getJson<Page<Audit>>(path, service.adminToken);
        assert.ok(page.body.items.every((a) => a.action === 'token.create'));
        paged.push(...page.body.items.map((a) => a.id));
        cursor = page.body.nextCursor;
      } while (cursor !== null);
      assert.deepEqual(
        paged,
        all.body.items.filter((a) => a.action === 'token.create').map((a) => a.id),
      );

      const byName = await getJson<Page<Audit>>('/v1/audit?actor=analyst-one', service.adminToken);
      assert.ok(byName.body.items.length > 0);
      assert.ok(byName.body.items.every((a) => a.actorName === 'analyst-one'));
      const actorId = byName.body.items[0]?.actorId;
      assert.ok(actorId);
      const byId = await getJson<Page<Audit>>(`/v1/audit?actor=${actorId}`, service.adminToken);
      assert.deepEqual(
        byId.body.items.map((a) => a.id),
        byName.body.items.map((a) => a.id),
      );

      const future = await getJson<Page<Audit>>('/v1/audit?from=2999-01-01T00:00:00Z', service.adminToken);
      assert.deepEqual(future.body, { items: [], nextCursor: null });
      const past = await getJson<Page<Audit>>('/v1/audit?to=2000-01-01T00:00:00Z', service.adminToken);
      assert.deepEqual(past.body.items, []);
      const newest = all.body.items[0];
      assert.ok(newest);
      // Times are shown to the millisecond and stored to the microsecond: `to` takes in its whole millisecond.
      const window = await getJson<Page<Audit>>(
        `/v1/audit?from=${encodeURIComponent(newest.at)}&to=${encodeURIComponent(newest.at)}`,
        service.adminToken,
      );
      assert.ok(window.body.items.some((a) => a.id === newest.id));

      // A token's name may look like a token id: such an actor matches records by either.
      const uuidName = '11111111-2222-3333-4444-555555555555';
      const uuidNamed = await service.token('analyst', uuidName);
      const download = await service.request(`/v1/samples/${eicar}/download`, { token: uuidNamed });
      assert.equal(download.status, 200);
      await download.arrayBuffer();
      const named = await getJson<Page<Audit>>(`/v1/audit?actor=${uuidName}`, service.adminToken);
      assert.ok(named.body.items.length > 0);
      assert.ok(named.body.items.some((a) => a.actorName === uuidName && a.action === 'sample.download'));
      assert.ok(named.body.items.every((a) => a.actorName === uuidName || a.actorId === uuidName));

      const bad = await getJson<ErrorBody>('/v1/audit?from=soon', service.adminToken);
      assert.equal(bad.status, 400);
      assert.ok(bad.body.error.details?.issues?.some((i) => i.field === 'query.from'));
      const swapped = await getJson<ErrorBody>(
        '/v1/audit?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z',
        service.adminToken,
      );
      assert.equal(swapped.status, 400, JSON.stringify(swapped.body));
      assert.ok(swapped.body.error.details?.issues?.some((i) => i.field === 'query.to'));
      const yearZero = await getJson<ErrorBody>('/v1/audit?from=0000-01-01T00:00:00Z', service.adminToken);
      assert.equal(yearZero.status, 400, JSON.stringify(yearZero.body));
      assert.ok(yearZero.body.error.details?.issues?.some((i) => i.field === 'query.from'));
      // The latest bound there is takes in everything (its next millisecond was a year PostgreSQL refused).
      const latest = await getJson<Page<Audit>>('/v1/audit?to=9999-12-31T23:59:59.999Z', service.adminToken);
      assert.equal(latest.status, 200, JSON.stringify(latest.body));
      assert.ok(latest.body.items.some((a) => a.id === newest.id));
    });
  });

  describe('search copies of the latest scan', () => {
    // Last: it activates another ruleset, which the tests above do not expect.
    it('rule and tag filters follow a rescan to its new matches', async () => {
      const eicarRules = await getJson<Page<Summary>>('/v1/samples?rule=EICAR_Test_File');
      assert.deepEqual(
        eicarRules.body.items.map((s) => s.sha256),
        [eicar],
      );
      const ruleset = await post<{ id: string }>(
        '/v1/rulesets',
        {
          name: 'search-rescan',
          source: 'rule Rescan_Rule : rescantag { strings: $a = "EICAR-STANDARD" condition: $a }',
        },
        201,
      );
      await post(`/v1/rulesets/${ruleset.id}/activate`, {}, 200);
      // Requests made together are as many jobs: ids named by the millisecond merged them.
      const queued = await Promise.all(
        Array.from({ length: 10 }, () =>
          post<{ jobId: string }>(`/v1/samples/${eicar}/rescan`, {}, 202, analyst),
        ),
      );
      assert.equal(new Set(queued.map((q) => q.jobId)).size, 10);
      await pollUntil(
        async () => {
          const { body } = await getJson<Page<Summary>>('/v1/samples?rule=Rescan_Rule');
          return body.items.some((s) => s.sha256 === eicar) ? true : undefined;
        },
        { timeoutMs: 30_000, what: 'the rescan with the new ruleset' },
      );
      assert.deepEqual(
        (await getJson<Page<Summary>>('/v1/samples?tag=rescantag')).body.items.map((s) => s.sha256),
        [eicar],
      );
      assert.deepEqual((await getJson<Page<Summary>>('/v1/samples?rule=EICAR_Test_File')).body.items, []);
      // Every sample's copies equal what its latest scan's matches say.
      const [drift] = await query<{ n: string }>(
        service.databaseUrl,
        `select count(*) as n from samples s where
           match_rules <> coalesce((select array_agg(distinct rule order by rule) from matches
                                    where scan_id = s.latest_scan_id), '{}')
           or match_tags <> coalesce((select array_agg(distinct t order by t) from matches, unnest(tags) t
                                      where scan_id = s.latest_scan_id), '{}')`,
      );
      assert.equal(drift?.n, '0');
    });
  });

  describe('permissions', () => {
    it('refuses agents (403) and callers without a token (401); audit is for admins', async () => {
      const paths = [
        '/v1/samples',
        `/v1/samples/${eicar}/submissions`,
        `/v1/samples/${eicar}/scans`,
        `/v1/samples/${eicar}/preview`,
        `/v1/samples/${eicar}/download`,
        '/v1/audit',
      ];
      for (const path of paths) {
        assert.equal((await service.request(path, { token: null })).status, 401, path);
        assert.equal((await service.request(path, { token: agent })).status, 403, path);
        const asAnalyst = await service.request(path, { token: analyst });
        assert.equal(asAnalyst.status, path === '/v1/audit' ? 403 : 200, path);
        await asAnalyst.arrayBuffer();
        const asAdmin = await service.request(path);
        assert.equal(asAdmin.status, 200, path);
        await asAdmin.arrayBuffer();
      }
    });
  });
});

describe('download password', () => {
  const service = new TestService({ scanner: false, env: { DOWNLOAD_ZIP_PASSWORD: 'not-the-usual-one' } });
  before(async () => {
    await service.start();
  });
  after(async () => {
    await service.stop();
  });

  it('is the configured one, in the archives and in GET /v1/me for those who may download', async () => {
    const analyst = await service.token('analyst');
    const agent = await service.token('agent');
    const me = async (token: string) =>
      ((await (await service.request('/v1/me', { token })).json()) as { downloadPassword: string | null })
        .downloadPassword;
    assert.equal(await me(analyst), 'not-the-usual-one');
    assert.equal(await me(service.adminToken), 'not-the-usual-one');
    assert.equal(await me(agent), null, 'an agent may not download');

    const bytes = benign(3000);
    assert.equal((await service.submit(bytes, fileMetadata(bytes), agent)).status, 201);
    const res = await service.request(`/v1/samples/${sha256(bytes)}/download`, { token: analyst });
    assert.equal(res.status, 200);
    const dir = await mkdtemp(join(tmpdir(), 'specimen-unzip-'));
    try {
      await writeFile(join(dir, 'a.zip'), Buffer.from(await res.arrayBuffer()));
      await run('7z', ['x', '-pnot-the-usual-one', `-o${join(dir, 'out')}`, join(dir, 'a.zip')]);
      assert.equal(sha256(await readFile(join(dir, 'out', sha256(bytes)))), sha256(bytes));
      await assert.rejects(run('7z', ['x', '-pinfected', `-o${join(dir, 'bad')}`, join(dir, 'a.zip')]));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
