import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { dropDatabase, query, submissionInput } from '#test-support';
import { pseudonym } from '#config';
import { SpecimenError } from '#contracts';
import { Database, ensureDatabase, migrationsFolder, runMigrations, toDatabaseError } from './database.js';
import { sql as drizzleSql } from './drizzle.js';
import { backfillPseudonyms } from './pseudonyms.js';
import { AuditRepository } from './repositories/audit.repository.js';
import { SamplesRepository } from './repositories/samples.repository.js';
import { StewardshipRepository } from './repositories/stewardship.repository.js';
import { SubmissionsRepository } from './repositories/submissions.repository.js';

const url = `postgres://postgres@127.0.0.1:5432/specimen_dbtest_${randomBytes(5).toString('hex')}`;

const sql = <T extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<T[]> =>
  query<T>(url, text, params);

describe('database', () => {
  let database: Database;

  before(async () => {
    // Several replicas starting at once: creation and migration must each happen once, without error.
    await Promise.all([ensureDatabase(url), ensureDatabase(url), ensureDatabase(url)]);
    await Promise.all([runMigrations(url), runMigrations(url), runMigrations(url)]);
    database = await Database.connect({ url, poolMax: 8, migrate: false });
  });

  after(async () => {
    await database.close();
    await dropDatabase(url);
  });

  it('calls DATABASE_UNAVAILABLE what says the server cannot take the work now, and nothing else', () => {
    const pgError = (code: string, message = 'x') => Object.assign(new Error(message), { code });
    // As the query builder throws it: its own error, the driver's as the cause.
    const wrapped = (cause: Error) =>
      Object.assign(new Error('Failed query: select 1\nparams: secret'), { cause });
    for (const code of ['53300', '57P01', '57P02', '57P03', '08001', '08004', '08006', 'ECONNREFUSED']) {
      const mapped = toDatabaseError(wrapped(pgError(code)));
      assert.ok(mapped instanceof SpecimenError && mapped.code === 'DATABASE_UNAVAILABLE', code);
      assert.doesNotMatch(String((mapped.cause as Error).message), /secret/);
    }
    for (const message of ['Connection terminated unexpectedly', 'Query read timeout']) {
      const mapped = toDatabaseError(wrapped(new Error(message)));
      assert.ok(mapped instanceof SpecimenError && mapped.code === 'DATABASE_UNAVAILABLE', message);
    }
    // A constraint, a serialization failure, a deadlock, a statement timeout: the statement's own fault.
    for (const code of ['23505', '40001', '40P01', '57014', '42P01']) {
      const error = wrapped(pgError(code));
      assert.equal(toDatabaseError(error), error, code);
    }
  });

  it('destroys, not reuses, the client of a transaction whose statement outlived the query timeout', async () => {
    // One connection, so the next statement runs on the transaction's client if it went back to the pool.
    const single = await Database.connect({ url, poolMax: 1, migrate: false, queryTimeoutMs: 500 });
    try {
      await assert.rejects(
        single.transaction((tx) => tx.execute(drizzleSql`select pg_sleep(1.5)`)),
        (e: unknown) => e instanceof SpecimenError && e.code === 'DATABASE_UNAVAILABLE',
      );
      const marker = randomBytes(8).toString('hex');
      await single.rawQuery({
        text: `insert into audit_log (actor_name, action, target_type) values ('system', $1, 'test')`,
        values: [`timeout.${marker}`],
      });
      // Committed: another connection sees it.
      assert.equal((await sql('select 1 from audit_log where action = $1', [`timeout.${marker}`])).length, 1);
    } finally {
      await single.close();
    }
  });

  it('numbers submissions and scans with time-ordered version 7 ids, by default too', async () => {
    const [a] = await sql<{ id: string; t: string }>(
      `select uuid_v7()::text as id, (extract(epoch from clock_timestamp()) * 1000)::bigint::text as t`,
    );
    const [b] = await sql<{ id: string }>(`select uuid_v7()::text as id`);
    assert.match(a?.id ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    // Its first 48 bits are the milliseconds of the clock, within the same statement's millisecond or so.
    const ms = parseInt((a?.id ?? '').replaceAll('-', '').slice(0, 12), 16);
    assert.ok(Math.abs(ms - Number(a?.t)) <= 2, `${ms} vs ${a?.t}`);
    assert.ok((a?.id ?? '') < (b?.id ?? ''), 'a later id sorts after');
    const defaults = await sql<{ table_name: string; column_default: string }>(
      `select table_name, column_default from information_schema.columns
        where column_name = 'id' and table_name in ('submissions', 'scans') order by table_name`,
    );
    assert.deepEqual(
      defaults.map((d) => [d.table_name, d.column_default]),
      [
        ['scans', 'uuid_v7()'],
        ['submissions', 'uuid_v7()'],
      ],
    );
  });

  it('applied every migration exactly once', async () => {
    const rows = await sql<{ n: string }>('select count(*) as n from drizzle.__drizzle_migrations');
    // As many as drizzle-kit's journal lists, so a branch adding a migration does not edit this line.
    const journal = JSON.parse(await readFile(join(migrationsFolder(), 'meta', '_journal.json'), 'utf8')) as {
      entries: unknown[];
    };
    assert.equal(rows[0]?.n, String(journal.entries.length));
    const tables = await sql<{ table_name: string }>(
      `select table_name from information_schema.tables where table_schema = 'public' order by 1`,
    );
    assert.deepEqual(
      tables.map((t) => t.table_name),
      [
        'agents',
        'api_tokens',
        'audit_log',
        'enrollment_tokens',
        'idempotency_keys',
        'matches',
        'object_tombstones',
        'outbox',
        'retrohunt_matches',
        'retrohunts',
        'retroscans',
        'ruleset_rules',
        'rulesets',
        'samples',
        'scans',
        'stats_daily',
        'stats_days',
        'stats_removed',
        'stats_salts',
        'submissions',
        'uploads',
      ],
    );
  });

  it('records one submission for N uploads with the same idempotency key at once, and replays it to the others', async () => {
    const repo = new SubmissionsRepository(database);
    const sha256 = randomBytes(32).toString('hex');
    const key = randomBytes(8).toString('hex');
    const keyed = (hash: string, request = 'a'.repeat(64), pseudonym = 'test') => ({
      ...submissionInput(hash),
      submitter: { pseudonym, country: null, productVersion: null },
      idempotency: { key, requestSha256: request },
    });
    const results = await Promise.all(Array.from({ length: 8 }, () => repo.record(keyed(sha256))));
    const [first] = results.filter((r) => !r.replayed);
    assert.equal(results.filter((r) => !r.replayed).length, 1);
    assert.ok(first !== undefined && !first.duplicate && first.outboxId !== null);
    for (const r of results.filter((r) => r.replayed)) {
      assert.deepEqual(r, {
        submissionId: first.submissionId,
        duplicate: false,
        outboxId: null,
        job: null,
        replayed: true,
      });
    }
    const counts = async () =>
      (
        await sql<{ sightings: number; submissions: string; keys: string; outbox: string }>(
          `select s.sightings, (select count(*) from submissions where sample_sha256 = s.sha256) as submissions,
                  (select count(*) from idempotency_keys where key = $2) as keys,
                  (select count(*) from outbox where job_id = $3) as outbox
           from samples s where s.sha256 = $1`,
          [sha256, key, `scan-${sha256}`],
        )
      )[0];
    assert.deepEqual(await counts(), { sightings: 1, submissions: '1', keys: '1', outbox: '1' });

    // The same key for another request: refused, nothing written; another submitter's key is its own.
    const other = randomBytes(32).toString('hex');
    await assert.rejects(repo.record(keyed(other, 'b'.repeat(64))), (e: unknown) => {
      return (
        e instanceof SpecimenError && e.code === 'IDEMPOTENCY_KEY_REUSED' && e.details?.field === 'sha256'
      );
    });
    await assert.rejects(repo.record(keyed(sha256, 'b'.repeat(64))), { code: 'IDEMPOTENCY_KEY_REUSED' });
    assert.equal((await sql('select 1 from samples where sha256 = $1', [other])).length, 0);
    const elsewhere = await repo.record(keyed(sha256, 'a'.repeat(64), 'another-agent'));
    assert.deepEqual([elsewhere.replayed, elsewhere.duplicate], [false, true]);

    // Racing requests that differ: one is recorded, the others refused (the key's unique index decides).
    const raced = randomBytes(8).toString('hex');
    const outcomes = await Promise.allSettled(
      Array.from({ length: 4 }, () => {
        const hash = randomBytes(32).toString('hex');
        return repo.record({ ...keyed(hash, hash), idempotency: { key: raced, requestSha256: hash } });
      }),
    );
    assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1);
    for (const o of outcomes) {
      if (o.status === 'rejected') assert.equal((o.reason as SpecimenError).code, 'IDEMPOTENCY_KEY_REUSED');
    }

    // A key goes with its submission (here the retention sweep's delete of the sample): used again, it
    // records a new submission.
    await sql('delete from samples where sha256 = $1', [sha256]);
    assert.equal(
      (await sql('select 1 from idempotency_keys where key = $1 and submitter = $2', [key, 'test'])).length,
      0,
    );
    const anew = await repo.record(keyed(sha256));
    assert.deepEqual([anew.replayed, anew.duplicate], [false, false]);

    // Expiry: keys first used before the instant given are forgotten, their submissions kept.
    const stewardship = new StewardshipRepository(database, 'k'.repeat(32));
    assert.equal(await stewardship.expireIdempotencyKeys(new Date(Date.now() - 3_600_000), 100), 0);
    const keysLeft = await sql('select submitter, key, created_at from idempotency_keys');
    assert.equal(
      await stewardship.expireIdempotencyKeys(new Date(Date.now() + 60_000), 100),
      keysLeft.length,
      JSON.stringify(keysLeft),
    );
    assert.equal((await sql('select 1 from idempotency_keys')).length, 0);
    assert.equal((await sql('select 1 from submissions where id = $1', [anew.submissionId])).length, 1);
    assert.equal((await repo.record(keyed(sha256))).replayed, false);
  });

  it('records one sample, N sightings and one scan job when the same sample arrives N times at once', async () => {
    const repo = new SubmissionsRepository(database);
    const sha256 = randomBytes(32).toString('hex');
    const results = await Promise.all(Array.from({ length: 8 }, () => repo.record(submissionInput(sha256))));
    assert.equal(results.filter((r) => !r.duplicate).length, 1);
    assert.equal(results.filter((r) => r.outboxId !== null).length, 1);
    const [sample] = await sql<{ sightings: number }>('select sightings from samples where sha256 = $1', [
      sha256,
    ]);
    assert.equal(sample?.sightings, 8);
    const outbox = await sql('select 1 from outbox where job_id = $1', [`scan-${sha256}`]);
    assert.equal(outbox.length, 1);
  });

  it('pages through the samples left unscanned, oldest first, microseconds and ties included', async () => {
    const repo = new SubmissionsRepository(database);
    // Five unscanned samples of 2001 (other tests' samples are first seen today): two share an instant,
    // and two differ by a microsecond only, which a JavaScript Date would not tell apart.
    const firstSeen = [
      '2001-01-01T00:00:00.000001Z',
      '2001-01-01T00:00:00.000002Z',
      '2001-01-02T00:00:00Z',
      '2001-01-02T00:00:00Z',
      '2001-01-03T00:00:00Z',
    ];
    const shas: string[] = [];
    for (const at of firstSeen) {
      const sha256 = randomBytes(32).toString('hex');
      await repo.record(submissionInput(sha256));
      await sql('update samples set first_seen = $2 where sha256 = $1', [sha256, at]);
      shas.push(sha256);
    }
    const scanned = randomBytes(32).toString('hex');
    await repo.record(submissionInput(scanned));
    await sql(`update samples set first_seen = '2001-01-01', scan_status = 'scanned' where sha256 = $1`, [
      scanned,
    ]);
    const olderThan = new Date('2001-02-01T00:00:00Z');
    const seen: string[] = [];
    let cursor: Awaited<ReturnType<SubmissionsRepository['strandedScans']>>['next'] = null;
    const pages: number[] = [];
    do {
      const page = await repo.strandedScans(olderThan, 2, cursor);
      pages.push(page.samples.length);
      seen.push(...page.samples.map((s) => s.sha256));
      cursor = page.next;
    } while (cursor !== null && pages.length < 10);
    assert.deepEqual(pages, [2, 2, 1]);
    const tied = [shas[2], shas[3]].sort();
    assert.deepEqual(seen, [shas[0], shas[1], ...tied, shas[4]], 'each once, oldest first');
    assert.ok(!seen.includes(scanned));
    const all = await repo.strandedScans(olderThan, 5);
    assert.equal(all.samples.length, 5);
    assert.notEqual(all.next, null, 'a full page says where the next starts');
    assert.deepEqual((await repo.strandedScans(olderThan, 5, all.next)).samples, []);
  });

  it('marks several submissions queued in one statement, dropping their outbox rows and no others', async () => {
    const repo = new SubmissionsRepository(database);
    const recorded = await Promise.all(
      Array.from({ length: 3 }, () => repo.record(submissionInput(randomBytes(32).toString('hex')))),
    );
    const [first, second, third] = recorded.map((r) => ({
      submissionId: r.submissionId,
      outboxId: r.outboxId ?? NaN,
    }));
    assert.ok(first !== undefined && second !== undefined && third !== undefined);
    await repo.markQueuedMany([first, second]);
    const status = await sql<{ id: string; status: string }>(
      'select id, status from submissions where id = any($1::uuid[])',
      [[first, second, third].map((r) => r.submissionId)],
    );
    assert.deepEqual(
      new Map(status.map((r) => [r.id, r.status])),
      new Map([
        [first.submissionId, 'queued'],
        [second.submissionId, 'queued'],
        [third.submissionId, 'received'],
      ]),
    );
    const left = await sql<{ id: string }>('select id from outbox where id = any($1::bigint[])', [
      [first, second, third].map((r) => r.outboxId),
    ]);
    assert.deepEqual(
      left.map((r) => Number(r.id)),
      [third.outboxId],
    );
  });

  it('converts rows from before the pseudonyms at start-up, once', async () => {
    const key = 'database-spec-pseudonym-key';
    const [agent] = await sql<{ id: string }>(
      `insert into agents (product_name, product_version, os_family, os_version, country)
       values ('P', '1', 'linux', '6', 'FR') returning id`,
    );
    const [agentKey] = await sql<{ id: string }>(
      `insert into api_tokens (name, role, token_hash, agent_id) values ('agent', 'agent', $1, $2) returning id`,
      [randomBytes(32).toString('hex'), agent?.id],
    );
    const [person] = await sql<{ id: string }>(
      `insert into api_tokens (name, role, token_hash) values ('analyst', 'analyst', $1) returning id`,
      [randomBytes(32).toString('hex')],
    );
    const sha256 = randomBytes(32).toString('hex');
    await sql(
      `insert into samples (sha256, sha1, md5, size, kind, object_key) values ($1, $2, $3, 1, 'file', $4)`,
      [sha256, 'a'.repeat(40), 'b'.repeat(32), `samples/${sha256}`],
    );
    for (const token of [agentKey?.id, person?.id]) {
      await sql(
        `insert into submissions (sample_sha256, kind, metadata, submitted_by) values ($1, 'file', '{}', $2)`,
        [sha256, token],
      );
    }
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const first = await backfillPseudonyms(client, key);
      assert.ok(first.agents >= 1 && first.submissions >= 2);
      assert.deepEqual(await backfillPseudonyms(client, key), { agents: 0, submissions: 0 });
    } finally {
      await client.end();
    }
    const [stored] = await sql<{ pseudonym: string }>('select pseudonym from agents where id = $1', [
      agent?.id,
    ]);
    assert.equal(stored?.pseudonym, pseudonym(key, agent?.id ?? ''));
    const rows = await sql<{ submitter: string; submitted_by: string | null }>(
      'select submitter, submitted_by from submissions where sample_sha256 = $1 order by submitter',
      [sha256],
    );
    assert.deepEqual(
      rows,
      [
        { submitter: pseudonym(key, agent?.id ?? ''), submitted_by: null },
        { submitter: pseudonym(key, person?.id ?? ''), submitted_by: null },
      ].sort((a, b) => a.submitter.localeCompare(b.submitter)),
    );
  });

  it('records lookup sightings of overlapping batches sent at once without a deadlock', async () => {
    const repo = new SubmissionsRepository(database);
    const prefix = randomBytes(4).toString('hex');
    const [sample] = await sql<{ n: string }>(
      `with s as (
         insert into samples (sha256, sha1, md5, size, kind, object_key)
         select h, left(h, 40), left(h, 32), 1, 'file', 'samples/' || h
         from (select encode(sha256(convert_to($1 || i, 'UTF8')), 'hex') as h
               from generate_series(1, 2000) as i) as g
         returning sha256)
       select count(*) as n from s`,
      [prefix],
    );
    assert.equal(sample?.n, '2000');
    const hashes = (
      await sql<{ sha256: string }>(
        `select encode(sha256(convert_to($1 || i, 'UTF8')), 'hex') as sha256 from generate_series(1, 2000) as i`,
        [prefix],
      )
    ).map((r) => r.sha256);
    const [token] = await sql<{ id: string }>(
      `insert into api_tokens (name, role, token_hash) values ('lookups', 'agent', $1) returning id`,
      [randomBytes(32).toString('hex')],
    );
    assert.ok(token !== undefined);
    // Each batch is its own random half of the hashes in its own order, as agents looking up popular files
    // send them: overlapping batches whose rows, locked in whatever order the plan meets them, used to
    // deadlock (a 500 for the agent).
    const batch = () => {
      const copy = [...hashes];
      for (let i = copy.length - 1; i > 0; i--) {
        const j = Math.floor(Math.random() * (i + 1));
        [copy[i], copy[j]] = [copy[j] as string, copy[i] as string];
      }
      return copy.slice(0, 1000);
    };
    // Workers that each send batch after batch, so commits interleave with statements in flight: a
    // statement that began before another's commit meets the rows in another order than one after it.
    const workers = 8;
    const perWorker = 4;
    await Promise.all(
      Array.from({ length: workers }, async () => {
        for (let i = 0; i < perWorker; i++) {
          const hashes = batch();
          const { seenAt, samples } = await repo.findForLookup(hashes);
          assert.equal(samples.length, 1000);
          const written = await repo.recordSightings([
            {
              sha256s: hashes,
              submitter: { pseudonym: token.id, country: null, productVersion: null },
              seenAt,
            },
          ]);
          assert.equal(written, 1000);
        }
      }),
    );
    const [counts] = await sql<{ sightings: string; lookups: string }>(
      `select (select sum(sightings) from samples where sha256 = any($1::bpchar[])) as sightings,
              (select count(*) from submissions
               where sample_sha256 = any($1::bpchar[]) and source = 'lookup') as lookups`,
      [hashes],
    );
    // 1 for the insert of each sample, then one for each hash of each batch.
    assert.equal(counts?.sightings, String(2000 + workers * perWorker * 1000));
    assert.equal(counts?.lookups, String(workers * perWorker * 1000));
  });

  it('writes queued lookup sightings except those of an agent that withdrew consent since', async () => {
    const repo = new SubmissionsRepository(database);
    const [sample] = await sql<{ sha256: string; sightings: number }>(
      `insert into samples (sha256, sha1, md5, size, kind, object_key)
       select h, left(h, 40), left(h, 32), 1, 'file', 'samples/' || h
       from (select encode(sha256(convert_to($1, 'UTF8')), 'hex') as h) as g
       returning sha256, sightings`,
      [randomBytes(8).toString('hex')],
    );
    assert.ok(sample !== undefined);
    const agent = async (participating: boolean, revokedAt: string | null) => {
      const name = randomBytes(8).toString('hex');
      await sql(
        `insert into agents (pseudonym, product_name, product_version, os_family, os_version, participating,
                             consent_revoked_at)
         values ($1, 'test', '1', 'linux', '6', $2, $3)`,
        [name, participating, revokedAt],
      );
      return { pseudonym: name, country: null, productVersion: null };
    };
    const read = await repo.findForLookup([sample.sha256]);
    assert.deepEqual(
      read.samples.map((s) => s.sha256),
      [sample.sha256],
    );
    const seen = Date.parse(read.seenAt);
    assert.ok(Math.abs(seen - Date.now()) < 60_000, `the read's clock ${read.seenAt} is the database's now`);
    const at = (ms: number) => new Date(seen + ms).toISOString();
    const consenting = await agent(true, null);
    const reconsented = await agent(true, at(-60_000));
    const withdrawnSince = await agent(false, at(1_000));
    // Withdrew after the lookup and consented again before the write: the purge may have run in between.
    const withdrawnAndBack = await agent(true, at(1_000));
    const neverConsenting = await agent(false, null);
    const batches = [consenting, reconsented, withdrawnSince, withdrawnAndBack, neverConsenting].map(
      (submitter) => ({ sha256s: [sample.sha256], submitter, seenAt: read.seenAt }),
    );
    assert.equal(await repo.recordSightings(batches), 2);
    const rows = await sql<{ submitter: string; received_at: Date }>(
      `select submitter, received_at from submissions where sample_sha256 = $1 and source = 'lookup'`,
      [sample.sha256],
    );
    assert.deepEqual(
      rows.map((r) => r.submitter).sort(),
      [consenting.pseudonym, reconsented.pseudonym].sort(),
    );
    assert.ok(
      rows.every((r) => Math.abs(r.received_at.getTime() - seen) < 1),
      'received at the lookup',
    );
    const [after] = await sql<{ sightings: number; last_seen: Date }>(
      'select sightings, last_seen from samples where sha256 = $1',
      [sample.sha256],
    );
    assert.equal(after?.sightings, sample.sightings + 2);
    // A late write never moves last_seen back.
    assert.equal(
      await repo.recordSightings([{ ...batches[0]!, seenAt: new Date(seen - 86_400_000).toISOString() }]),
      1,
    );
    const [later] = await sql<{ last_seen: Date }>('select last_seen from samples where sha256 = $1', [
      sample.sha256,
    ]);
    assert.equal(later?.last_seen.getTime(), after?.last_seen.getTime());
  });

  it('moves last_seen once it is a minute behind; other sightings update the sample row heap-only', async () => {
    // One connection, so the statistics of its updates can be flushed on request (pg_stat_force_next_flush).
    const single = await Database.connect({ url, poolMax: 1, migrate: false });
    try {
      const repo = new SubmissionsRepository(single);
      const [sample] = await sql<{ sha256: string; last_seen: Date }>(
        `insert into samples (sha256, sha1, md5, size, kind, object_key, last_seen)
         select h, left(h, 40), left(h, 32), 1, 'file', 'samples/' || h,
                date_trunc('milliseconds', now() - interval '1 hour')
         from (select encode(sha256(convert_to($1, 'UTF8')), 'hex') as h) as g
         returning sha256, last_seen`,
        [randomBytes(8).toString('hex')],
      );
      assert.ok(sample !== undefined);
      const submitter = {
        pseudonym: `ps-${randomBytes(4).toString('hex')}`,
        country: null,
        productVersion: null,
      };
      const base = sample.last_seen.getTime();
      const sight = (ms: number) =>
        repo.recordSightings([
          { sha256s: [sample.sha256], submitter, seenAt: new Date(base + ms).toISOString() },
        ]);
      const row = async () =>
        (
          await sql<{ last_seen: Date; sightings: number }>(
            'select last_seen, sightings from samples where sha256 = $1',
            [sample.sha256],
          )
        )[0];
      // Updates of samples so far, and how many were heap-only, once the writing connection has reported.
      const updates = async () => {
        await single.rawQuery({ text: 'select pg_stat_force_next_flush()' });
        await new Promise((r) => setTimeout(r, 50));
        const [r] = await sql<{ upd: string; hot: string }>(
          `select n_tup_upd as upd, n_tup_hot_upd as hot from pg_stat_user_tables where relname = 'samples'`,
        );
        return { upd: Number(r?.upd), hot: Number(r?.hot) };
      };
      const before = await updates();
      assert.equal(await sight(30_000), 1);
      let now = await row();
      assert.equal(now?.last_seen.getTime(), base, '30 s later: last_seen stays');
      assert.equal(now?.sightings, 2);
      const after = await updates();
      assert.deepEqual({ upd: after.upd - before.upd, hot: after.hot - before.hot }, { upd: 1, hot: 1 });
      assert.equal(await sight(59_000), 1);
      assert.equal((await row())?.last_seen.getTime(), base, '59 s later: last_seen stays');
      assert.equal(await sight(60_000), 1);
      now = await row();
      assert.equal(now?.last_seen.getTime(), base + 60_000, 'a minute later: last_seen moves');
      assert.equal(now?.sightings, 4);
      assert.equal(await sight(90_000), 1);
      assert.equal((await row())?.last_seen.getTime(), base + 60_000, 'counted from where it moved to');
    } finally {
      await single.close();
    }
  });

  it('gives the analyzers the metadata of the latest upload, not of a later lookup sighting', async () => {
    const [sample] = await sql<{ sha256: string }>(
      `insert into samples (sha256, sha1, md5, size, kind, object_key)
       select h, left(h, 40), left(h, 32), 1, 'memory-region', 'samples/' || h
       from (select encode(sha256(convert_to($1, 'UTF8')), 'hex') as h) as g
       returning sha256`,
      [randomBytes(8).toString('hex')],
    );
    assert.ok(sample !== undefined);
    const metadata = { kind: 'memory-region', pid: 4242, protection: 'RWX' };
    await sql(
      `insert into submissions (sample_sha256, kind, metadata, submitter, received_at)
       values ($1, 'memory-region', $2::jsonb, 'ps-upload', now() - interval '1 hour')`,
      [sample.sha256, JSON.stringify(metadata)],
    );
    const read = await new SubmissionsRepository(database).findForLookup([sample.sha256]);
    const submitter = { pseudonym: 'ps-lookup', country: null, productVersion: null };
    assert.equal(
      await new SubmissionsRepository(database).recordSightings([
        { sha256s: [sample.sha256], submitter, seenAt: read.seenAt },
      ]),
      1,
    );
    const samples = new SamplesRepository(database);
    assert.deepEqual(await samples.latestMetadata(sample.sha256), metadata);
    assert.equal((await samples.lastSighting(sample.sha256))?.getTime(), Date.parse(read.seenAt));
  });

  it('looks up only hashes of 64 lower-case hex digits, each answer at its own position', async () => {
    const repo = new SubmissionsRepository(database);
    const rows = await sql<{ sha256: string }>(
      `insert into samples (sha256, sha1, md5, size, kind, object_key)
       select h, left(h, 40), left(h, 32), 1, 'file', 'samples/' || h
       from (select encode(sha256(convert_to($1 || i, 'UTF8')), 'hex') as h
             from generate_series(1, 3) as i) as g
       returning sha256`,
      [randomBytes(8).toString('hex')],
    );
    const [a, b, c] = rows.map((r) => r.sha256) as [string, string, string];
    // A character beyond ASCII whose low byte is b's first digit: written as Latin-1 it would pass for b.
    const lookalike = `${String.fromCharCode(0x100 + b.charCodeAt(0))}${b.slice(1)}`;
    const read = await repo.findForLookup([a, lookalike, b.toUpperCase(), b.slice(1), `${b}0`, c, b]);
    assert.deepEqual(read.samples.map((s) => s.sha256).sort(), [a, b, c].sort());
    assert.deepEqual((await repo.findForLookup([lookalike, 'x'])).samples, []);
  });

  it("adds the countries of a statement's sightings to their samples, once each, in order", async () => {
    const repo = new SubmissionsRepository(database);
    const rows = await sql<{ sha256: string }>(
      `insert into samples (sha256, sha1, md5, size, kind, object_key, countries)
       select h, left(h, 40), left(h, 32), 1, 'file', 'samples/' || h, array['fr']
       from (select encode(sha256(convert_to($1 || i, 'UTF8')), 'hex') as h
             from generate_series(1, 2) as i) as g
       returning sha256`,
      [randomBytes(8).toString('hex')],
    );
    const hashes = rows.map((r) => r.sha256);
    const { seenAt } = await repo.findForLookup(hashes);
    const by = (pseudonym: string, country: string | null) => ({
      sha256s: hashes,
      submitter: { pseudonym, country, productVersion: null },
      seenAt,
    });
    // One statement: two new countries, one the samples have, one sighting without a country.
    assert.equal(
      await repo.recordSightings([by('a', 'jp'), by('b', 'de'), by('c', 'fr'), by('d', null), by('e', 'jp')]),
      10,
    );
    const after = await sql<{ countries: string[] }>(
      'select countries from samples where sha256 = any($1::bpchar[])',
      [hashes],
    );
    assert.deepEqual(
      after.map((r) => r.countries),
      [
        ['de', 'fr', 'jp'],
        ['de', 'fr', 'jp'],
      ],
    );
  });

  it('keeps the audit log append-only', async () => {
    const audit = new AuditRepository(database);
    const id = await audit.append({
      actorId: null,
      actorName: 'system',
      action: 'test.run',
      targetType: 'test',
    });
    const [record] = await audit.list({ action: 'test.run', limit: 10 });
    assert.equal(record?.id, id);
    await assert.rejects(sql('update audit_log set action = $1', ['x']), /append-only/);
    await assert.rejects(sql('delete from audit_log'), /append-only/);
    // A statement trigger for TRUNCATE, which fires no row trigger.
    await assert.rejects(sql('truncate audit_log'), /append-only/);
  });

  it('appends many audit records in one statement, ids in the order given', async () => {
    const audit = new AuditRepository(database);
    assert.deepEqual(await audit.appendMany([]), []);
    const targets = ['a', 'b', 'c', 'd'];
    const ids = await audit.appendMany(
      targets.map((targetId) => ({
        actorId: null,
        actorName: 'system',
        action: 'test.many',
        targetType: 'test',
        targetId,
      })),
    );
    const records = await audit.list({ action: 'test.many', limit: 10 });
    const byId = new Map(records.map((r) => [r.id, r]));
    assert.deepEqual(
      ids.map((id) => byId.get(id)?.targetId),
      targets,
    );
    // One statement outside a transaction is one commit: the records share its timestamp.
    assert.equal(new Set(records.map((r) => r.at.getTime())).size, 1);
  });

  it('turns a refused connection into DATABASE_UNAVAILABLE', async () => {
    const dead = await Database.connect({
      url: 'postgres://postgres@127.0.0.1:1/x',
      poolMax: 1,
      migrate: false,
    });
    await assert.rejects(dead.ping(), { code: 'DATABASE_UNAVAILABLE' });
    await dead.close();
  });
});
