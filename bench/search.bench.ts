// Search benchmark: `GET /v1/samples` through the compiled API over 1,000,000 generated samples, against the
// very same SQL run straight on PostgreSQL with `pg`, in the same run, for five typical analyst filters.
// Prints p50/p95 latency (one request at a time: what an analyst waits) and throughput (BENCH_CONCURRENCY
// requests in flight) of both, the ratio API / direct throughput, and the API process's CPU time per
// request at BENCH_CONCURRENCY (from /proc: a busy machine disturbs it less than wall time), and the CPU per
// request of every process each side uses (PostgreSQL and this process; plus the API on its side): on one
// machine the ratio can be no better than the inverse ratio of those. Goal: API p95 < 50 ms and ratio ≥ 0.5.
//
// Data: a database of its own (BENCH_DATABASE, `specimen_bench_search`), migrated like the API does, then
// filled with set-based SQL (generate_series, indexes dropped during the load and rebuilt after, then
// VACUUM ANALYZE): samples with skewed kinds, verdicts, file types and log-uniform sizes over 300 days, ~1.6
// sightings each from 2,000 enrolled agents in 25 countries (skewed, 10% without one), one scan per scanned
// sample (a tenth with an older scan whose match must not count), and 1–3 matches from 400 rules
// (log-uniform: a few very common rules, many rare ones) with family and category tags. The shape version
// is kept in the database: a rerun with the same shape reuses it (BENCH_REGENERATE=1 to force).
//
// Fairness: the direct side runs the statement the API's repository builds (`searchStatement()`, the
// same text and parameters, retention cutoff included; built once per variant) on a pg pool as large as the API's
// (DATABASE_POOL_MAX = BENCH_CONCURRENCY), with the same number of requests in flight, from this process;
// the API side adds HTTP, authentication (a query per request unless the principal cache has the token),
// validation and JSON. Both send the same sequence of filter variants (e.g. a common, a middling and a
// rare rule). Each case runs BENCH_REPEATS times interleaved (direct, then API) after a warm-up; the table
// shows the median of the repeats. The first page of each variant is checked to be the same rows on both
// sides.
// Run: npm run bench:search   (BENCH_SAMPLES=200000 for a smaller set, BENCH_REQUESTS=200 BENCH_REPEATS=1 for
// a shorter run, BENCH_EXPLAIN=1 to print each variant's plan, AUTH_CACHE_MS=0 to run the API without its
// principal cache, BENCH_FILTER=verdict for the filters whose name contains `verdict`, BENCH_VERBOSE=1 for
// each repeat's CPU by process). The first run generates the data: ~3 min, ~2.2 GB.
import { Agent, request } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { projectRoot } from '#config';
import { SearchSamplesQuery } from '#contracts';
import { Database, SamplesRepository, ensureDatabase, runMigrations } from '#database';
import { TestService } from '#test-support';
import { median, pidsNamed, processCpuMs } from './measure.js';

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 1_000_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 600);
const LATENCY_REQUESTS = Number(process.env.BENCH_LATENCY_REQUESTS ?? 200);
const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);
const DATABASE = process.env.BENCH_DATABASE ?? 'specimen_bench_search';
const REGENERATE = process.env.BENCH_REGENERATE === '1';
const EXPLAIN = process.env.BENCH_EXPLAIN === '1';
/** Only the filters whose name contains this text (e.g. `BENCH_FILTER=verdict`); all by default. */
const FILTER = process.env.BENCH_FILTER ?? '';
/** Far beyond the generated dates, so a rerun months later still finds every sample retained. */
const RETENTION_DAYS = 36_500;
/** Bump when the generator below changes what it writes. */
const GENERATOR_VERSION = 2;
const DATABASE_URL = `postgres://postgres@127.0.0.1:5432/${DATABASE}`;

// prettier-ignore
const COUNTRIES = [
  'US', 'DE', 'FR', 'GB', 'BR', 'IN', 'JP', 'CN', 'RU', 'ES', 'IT', 'NL', 'PL',
  'CA', 'AU', 'KR', 'MX', 'TR', 'SE', 'CH', 'ZA', 'AR', 'NG', 'EG', 'VN',
];
const CATEGORIES = ['trojan', 'ransomware', 'backdoor', 'miner', 'packer', 'exploit', 'stealer', 'dropper'];

const sqlArray = (xs: string[]) => `array[${xs.map((x) => `'${x}'`).join(',')}]`;
/** Tags of rule number `r`: a family (60) and a category (8). */
const TAGS_OF = (r: string) =>
  `array['fam' || lpad((${r} % 60)::text, 2, '0'), (${sqlArray(CATEGORIES)})[1 + ${r} % ${CATEGORIES.length}]]`;

/** Migrations applied, so a new one (which may reshape the tables) regenerates the data. */
function shapeVersion(): string {
  const journal = JSON.parse(
    readFileSync(join(projectRoot(), 'libs', 'database', 'migrations', 'meta', '_journal.json'), 'utf8'),
  ) as { entries: { tag: string }[] };
  return `g${GENERATOR_VERSION}:n${SAMPLES}:m${journal.entries.at(-1)?.tag ?? 'none'}`;
}

const TABLES = ['samples', 'submissions', 'scans', 'matches'];

/** The generator: every statement set-based, run with triggers and FK checks off (replica role). */
function generationSql(anchor: string): string[] {
  const anchorTs = `'${anchor}'::timestamptz`;
  return [
    `select setseed(0.42)`,
    `create temp table gen as
     select i, h, size, kind, fs,
       case when sightings = 1 then fs else fs + lr * (${anchorTs} - fs) end as ls,
       sightings, scan_status,
       case when scan_status <> 'scanned' then null
            when rv < 0.75 then 'clean' when rv < 0.85 then 'suspicious' else 'malicious' end as verdict,
       case when scan_status <> 'scanned' then null
            when rf < 0.40 then 'pe' when rf < 0.50 then 'elf' when rf < 0.62 then 'script'
            when rf < 0.72 then 'archive' when rf < 0.80 then 'office' when rf < 0.85 then 'pdf'
            when rf < 0.88 then 'macho' else 'unknown' end as file_type
     from (
       select i, encode(sha256(convert_to('bench-' || i, 'UTF8')), 'hex') as h,
         floor(exp(ln(100) + random() * ln(500000)))::bigint as size,
         (array['file', 'file-fragment', 'memory-region', 'boot-record'])[
           case when random() < 0.85 then 1 else 2 + floor(random() * 3)::int end] as kind,
         ${anchorTs} - random() * interval '300 days' as fs,
         case when random() < 0.8 then 1 else 2 + floor(random() * 5)::int end as sightings,
         (array['scanned', 'pending', 'failed'])[case when random() < 0.98 then 1 else 2 + floor(random() * 2)::int end]
           as scan_status,
         random() as rv, random() as rf, random() as lr
       from generate_series(1, ${SAMPLES}) i
     ) r`,
    `insert into rulesets (id, name, version, source, source_sha256, status, rule_count, activated_at)
     values ('00000000-0000-4000-8000-000000000001', 'bench', 1, 'rule bench_old { condition: false }',
             repeat('1', 64), 'disabled', 1, ${anchorTs} - interval '400 days'),
            ('00000000-0000-4000-8000-000000000002', 'bench', 2, 'rule bench { condition: false }',
             repeat('2', 64), 'active', 400, ${anchorTs} - interval '400 days')`,
    `insert into agents (id, pseudonym, product_name, product_version, os_family, os_version, country, participating,
       enrolled_at)
     select md5('agent-' || g)::uuid, encode(sha256(convert_to('agent-' || g, 'UTF8')), 'hex'), 'BenchAV', '1.' || (g % 5), 'windows', '10.0',
       case when random() < 0.1 then null
            else (${sqlArray(COUNTRIES)})[floor(power(${COUNTRIES.length + 1}, random()))::int] end,
       true, ${anchorTs} - interval '400 days'
     from generate_series(1, 2000) g`,
    `insert into api_tokens (id, name, role, token_hash, agent_id)
     select md5('token-' || g)::uuid, 'bench-agent-' || g, 'agent',
       encode(sha256(convert_to('bench-token-' || g, 'UTF8')), 'hex'), md5('agent-' || g)::uuid
     from generate_series(1, 2000) g`,
    // Matches of each scanned sample's latest scan: rule numbers log-uniform over 1..400.
    `create temp table gen_matches as
     select distinct on (g.i, m.r) g.i, m.r, g.verdict = 'clean' as noisy
     from gen g
     cross join lateral (
       select least(400, floor(power(401, random()))::int) as r
       from generate_series(1, case g.verdict when 'malicious' then 1 + floor(random() * 3)::int
                                              when 'suspicious' then 1 + floor(random() * 2)::int
                                              else (random() < 0.03)::int end)
     ) m
     where g.scan_status = 'scanned'`,
    // Sightings, each from a random agent: the first at first_seen, the last at last_seen.
    `create temp table gen_subs as
     select i, h, kind, 1 + floor(random() * 2000)::int as agent,
       case when k = 1 then fs when k = sightings then ls else fs + random() * (ls - fs) end as received_at
     from gen cross join lateral generate_series(1, sightings) k`,
    // The copies the triggers keep (they are off during the load): latest-scan rules and tags, countries.
    `create temp table gen_copies as
     select g.i, coalesce(r.rules, '{}') as rules, coalesce(t.tags, '{}') as tags,
       coalesce(c.countries, '{}') as countries
     from gen g
     left join (select i, array_agg(distinct 'Bench_Rule_' || lpad(r::text, 3, '0')) as rules
                from gen_matches group by i) r on r.i = g.i
     left join (select m.i, array_agg(distinct tag) as tags
                from gen_matches m cross join lateral unnest(${TAGS_OF('m.r')}) tag group by m.i) t on t.i = g.i
     left join (select s.i, array_agg(distinct a.country::text) as countries
                from gen_subs s join agents a on a.id = md5('agent-' || s.agent)::uuid
                where a.country is not null group by s.i) c on c.i = g.i`,
    // In first-seen order, as samples arrive in production (the heap correlates with the time indexes).
    `insert into samples (sha256, sha1, md5, size, kind, object_key, first_seen, last_seen, sightings,
       scan_status, verdict, latest_scan_id, file_type, match_rules, match_tags, countries)
     select h, left(encode(sha512(convert_to('bench-' || g.i, 'UTF8')), 'hex'), 40), md5('bench-' || g.i), size,
       kind, 'samples/' || substr(h, 1, 2) || '/' || substr(h, 3, 2) || '/' || h, fs, ls, sightings,
       scan_status, verdict, case when scan_status = 'scanned' then md5('scan-' || g.i)::uuid end, file_type,
       c.rules, c.tags, c.countries
     from gen g join gen_copies c on c.i = g.i
     order by fs`,
    `insert into scans (id, sample_sha256, ruleset_id, status, verdict, duration_ms, started_at, finished_at)
     select md5('scan-' || i)::uuid, h, '00000000-0000-4000-8000-000000000002'::uuid, 'scanned', verdict,
       1 + floor(random() * 200)::int, fs, fs + interval '1 second'
     from gen where scan_status = 'scanned'
     union all
     select md5('old-scan-' || i)::uuid, h, '00000000-0000-4000-8000-000000000001'::uuid, 'scanned', 'suspicious',
       1 + floor(random() * 200)::int, fs, fs + interval '1 millisecond'
     from gen where scan_status = 'scanned' and i % 10 = 0`,
    `insert into matches (scan_id, rule, namespace, tags, meta, strings, noisy)
     select md5('scan-' || i)::uuid, 'Bench_Rule_' || lpad(r::text, 3, '0'), 'default',
       ${TAGS_OF('r')},
       '{}'::jsonb, '[{"identifier": "$a", "offset": 0, "length": 4}]'::jsonb, noisy
     from gen_matches
     union all
     select md5('old-scan-' || i)::uuid, 'Bench_Old', 'default', array['oldtag'], '{}'::jsonb, '[]'::jsonb, false
     from gen where scan_status = 'scanned' and i % 10 = 0`,
    `insert into submissions (id, sample_sha256, kind, metadata, submitter, country, product_version, status,
       received_at)
     select gen_random_uuid(), h, kind, '{}', a.pseudonym, a.country, a.product_name || ' ' || a.product_version,
       'queued', received_at
     from gen_subs join agents a on a.id = md5('agent-' || agent)::uuid order by received_at`,
  ];
}

async function generate(client: pg.Client, anchor: string): Promise<void> {
  const started = Date.now();
  const step = (what: string) =>
    process.stdout.write(`  ${what} (${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
  // Non-constraint indexes are dropped for the load and rebuilt from their own definitions afterwards.
  const indexes = await client.query<{ name: string; def: string }>(
    `select indexname as name, indexdef as def from pg_indexes
     where schemaname = 'public' and tablename = any($1)
       and indexname not in (select conname from pg_constraint)`,
    [TABLES],
  );
  // One transaction: a failed load rolls back the index drops too (DDL is transactional in PostgreSQL).
  await client.query('begin');
  await client.query(`set local session_replication_role = replica`);
  await client.query(`set local maintenance_work_mem = '512MB'`);
  await client.query(`set local work_mem = '256MB'`);
  await client.query(
    `truncate matches, scans, submissions, samples, ruleset_rules, rulesets, api_tokens, agents, bench_shape cascade`,
  );
  for (const { name } of indexes.rows) await client.query(`drop index if exists "${name}"`);
  step(`dropped ${indexes.rows.length} indexes`);
  for (const statement of generationSql(anchor)) {
    await client.query(statement);
    step(statement.trim().split('\n')[0]?.slice(0, 70) ?? '');
  }
  for (const { def } of indexes.rows) await client.query(def);
  step('indexes rebuilt');
  await client.query(`drop table gen, gen_matches, gen_subs, gen_copies`);
  await client.query(`insert into bench_shape (version, anchor) values ($1, $2)`, [shapeVersion(), anchor]);
  await client.query('commit');
  await client.query(`vacuum (analyze) ${TABLES.join(', ')}, agents, api_tokens, rulesets`);
  step('vacuum analyze');
}

/** Creates, migrates and (unless its shape matches) fills the benchmark database; returns the data's anchor. */
async function prepare(): Promise<string> {
  await ensureDatabase(DATABASE_URL);
  await runMigrations(DATABASE_URL);
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    await client.query(
      `create table if not exists bench_shape (version text primary key, anchor timestamptz not null)`,
    );
    const version = shapeVersion();
    const found = await client.query<{ anchor: Date }>(`select anchor from bench_shape where version = $1`, [
      version,
    ]);
    const kept = found.rows[0];
    if (kept !== undefined && !REGENERATE) {
      process.stdout.write(`reusing ${DATABASE} (shape ${version}); BENCH_REGENERATE=1 to rebuild\n`);
      return kept.anchor.toISOString();
    }
    const anchor = new Date().toISOString();
    process.stdout.write(`generating ${SAMPLES} samples into ${DATABASE} (shape ${version})\n`);
    const t = Date.now();
    await generate(client, anchor).catch(async (e: unknown) => {
      await client.query('rollback').catch(() => undefined);
      throw e;
    });
    const counts = await client.query<{ t: string; n: string }>(
      TABLES.map((t) => `select '${t}' as t, count(*) as n from ${t}`).join(' union all '),
    );
    process.stdout.write(
      `generated in ${((Date.now() - t) / 1000).toFixed(0)} s: ${counts.rows.map((r) => `${r.n} ${r.t}`).join(', ')}\n`,
    );
    return anchor;
  } finally {
    await client.end();
  }
}

interface Filter {
  name: string;
  /** Query strings of `GET /v1/samples`, sent round-robin. */
  variants: string[];
}

function filters(anchor: string): Filter[] {
  const daysBefore = (d: number) => new Date(Date.parse(anchor) - d * 86_400_000).toISOString();
  return [
    {
      name: 'verdict + first seen in the last 30 days',
      variants: [
        `verdict=malicious&firstSeenFrom=${daysBefore(30)}`,
        `verdict=suspicious&firstSeenFrom=${daysBefore(30)}`,
      ],
    },
    {
      name: 'rule (common, middling, rare)',
      variants: ['rule=Bench_Rule_001', 'rule=Bench_Rule_020', 'rule=Bench_Rule_300'],
    },
    {
      name: 'tag, sorted by last seen',
      variants: ['tag=ransomware&sort=lastSeen', 'tag=fam07&sort=lastSeen', 'tag=fam59&sort=lastSeen'],
    },
    {
      name: 'file type + country',
      variants: ['fileType=pe&country=DE', 'fileType=elf&country=BR', 'fileType=pe&country=VN'],
    },
    {
      name: 'kind + size range, by size',
      variants: [
        'kind=file&sizeMin=1000000&sizeMax=5000000&sort=size&order=asc',
        'kind=memory-region&sizeMin=4096&sizeMax=65536&sort=size',
      ],
    },
  ];
}

interface Statement {
  text: string;
  values: unknown[];
}

/** The statement the API runs for these query parameters (as SamplesService.search builds its input). */
function statementFor(repository: SamplesRepository, params: string): Statement {
  const { cursor: _cursor, ...q } = SearchSamplesQuery.parse(Object.fromEntries(new URLSearchParams(params)));
  const seenSince = new Date(Date.now() - RETENTION_DAYS * 86_400_000);
  return repository.searchStatement({ ...q, seenSince });
}

interface Run {
  p50: number;
  p95: number;
  perSecond: number;
}

/** `count` calls of `call(i)`, `concurrency` at once; latency of each and overall throughput. */
async function load(count: number, concurrency: number, call: (i: number) => Promise<void>): Promise<Run> {
  const latencies: number[] = [];
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        const t = process.hrtime.bigint();
        await call(i);
        latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
    }),
  );
  const wall = Number(process.hrtime.bigint() - started) / 1e6;
  latencies.sort((a, b) => a - b);
  const at = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  return { p50: at(0.5), p95: at(0.95), perSecond: count / (wall / 1000) };
}

/** CPU ms so far of every PostgreSQL process (backends of both sides, and background work). */
function postgresCpuMs(): number {
  let ms = 0;
  for (const pid of pidsNamed('postgres')) {
    const used = processCpuMs(pid);
    if (Number.isFinite(used)) ms += used;
  }
  return ms;
}

/** CPU ms so far of this process, which sends the requests (HTTP, or pg) and reads the answers. */
function ownCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/** CPU ms per request of PostgreSQL, this process and (with a pid) the API, over one run of `run`. */
async function cpuPerRequest(
  requests: number,
  apiPid: number | undefined,
  run: () => Promise<Run>,
): Promise<{ run: Run; pg: number; client: number; api: number }> {
  const before = { pg: postgresCpuMs(), client: ownCpuMs(), api: processCpuMs(apiPid) };
  const result = await run();
  return {
    run: result,
    pg: (postgresCpuMs() - before.pg) / requests,
    client: (ownCpuMs() - before.client) / requests,
    api: apiPid === undefined ? 0 : (processCpuMs(apiPid) - before.api) / requests,
  };
}

function get(agent: Agent, baseUrl: string, token: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${baseUrl}${path}`,
      { agent, headers: { authorization: `Bearer ${token}` } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode === 200) resolve(body);
          else reject(new Error(`GET ${path}: ${res.statusCode} ${body}`));
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function main(): Promise<void> {
  const anchor = await prepare();
  const service = new TestService({
    scanner: false,
    env: {
      DATABASE_URL,
      DATABASE_POOL_MAX: String(CONCURRENCY),
      RETENTION_DAYS: String(RETENTION_DAYS),
      LOG_LEVEL: 'warn',
      ...(process.env.BENCH_API_NODE_OPTIONS === undefined
        ? {}
        : { NODE_OPTIONS: process.env.BENCH_API_NODE_OPTIONS }),
      ...(process.env.AUTH_CACHE_MS === undefined ? {} : { AUTH_CACHE_MS: process.env.AUTH_CACHE_MS }),
    },
  });
  await service.start();
  const database = await Database.connect({ url: DATABASE_URL, poolMax: 1, migrate: false });
  const repository = new SamplesRepository(database);
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: CONCURRENCY });
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  try {
    const token = await service.token('analyst', 'bench-analyst');
    const api = (params: string) => get(agent, service.baseUrl, token, `/v1/samples?${params}`);
    // Built once per variant: the baseline is the statement alone, not the query builder's work.
    const statements = new Map<string, Statement>();
    const direct = async (params: string) => {
      let s = statements.get(params);
      if (s === undefined) {
        s = statementFor(repository, params);
        statements.set(params, s);
      }
      return (await pool.query<{ sha256: string }>(s.text, s.values)).rows;
    };
    const rows: {
      filter: Filter;
      directAlone: Run;
      apiAlone: Run;
      directLoaded: Run;
      apiLoaded: Run;
      found: string;
      apiCpuMs: number;
      /** Every process's CPU per request (PostgreSQL, the sender; and the API on its side). */
      sqlSideCpuMs: number;
      apiSideCpuMs: number;
    }[] = [];
    const apiPid = service.api?.pid;
    if (apiPid === undefined) throw new Error('no API process');
    for (const filter of filters(anchor).filter((f) => f.name.includes(FILTER))) {
      const found: number[] = [];
      for (const params of filter.variants) {
        // Same rows on both sides (the API returns `limit` of the `limit + 1` it reads).
        const viaApi = (JSON.parse(await api(params)) as { items: { sha256: string }[] }).items.map(
          (s) => s.sha256,
        );
        const viaSql = (await direct(params)).slice(0, 50).map((r) => r.sha256);
        if (JSON.stringify(viaApi) !== JSON.stringify(viaSql)) {
          throw new Error(`${params}: the API and the direct SQL disagree`);
        }
        found.push(viaApi.length);
        if (EXPLAIN) {
          const s = statementFor(repository, params);
          const plan = await pool.query<{ 'QUERY PLAN': string }>(
            `explain (analyze, buffers) ${s.text}`,
            s.values,
          );
          process.stdout.write(`\n${params}\n${plan.rows.map((r) => r['QUERY PLAN']).join('\n')}\n`);
        }
      }
      const variant = (i: number) => filter.variants[i % filter.variants.length] ?? '';
      const directCall = (i: number) => direct(variant(i)).then(() => undefined);
      const apiCall = (i: number) => api(variant(i)).then(() => undefined);
      // Warm-up (JIT, pools, buffer cache), not timed.
      await load(Math.min(REQUESTS, 100), CONCURRENCY, directCall);
      await load(Math.min(REQUESTS, 100), CONCURRENCY, apiCall);
      const runs: Record<'directAlone' | 'apiAlone' | 'directLoaded' | 'apiLoaded', Run[]> = {
        directAlone: [],
        apiAlone: [],
        directLoaded: [],
        apiLoaded: [],
      };
      const apiCpu: number[] = [];
      const sqlSideCpu: number[] = [];
      const apiSideCpu: number[] = [];
      for (let r = 0; r < REPEATS; r++) {
        runs.directAlone.push(await load(LATENCY_REQUESTS, 1, directCall));
        runs.apiAlone.push(await load(LATENCY_REQUESTS, 1, apiCall));
        const d = await cpuPerRequest(REQUESTS, undefined, () => load(REQUESTS, CONCURRENCY, directCall));
        runs.directLoaded.push(d.run);
        sqlSideCpu.push(d.pg + d.client);
        const a = await cpuPerRequest(REQUESTS, apiPid, () => load(REQUESTS, CONCURRENCY, apiCall));
        runs.apiLoaded.push(a.run);
        apiCpu.push(a.api);
        apiSideCpu.push(a.pg + a.client + a.api);
        if (process.env.BENCH_VERBOSE === '1') {
          process.stdout.write(
            `${filter.name} #${r + 1}: CPU ms/request SQL side pg ${d.pg.toFixed(3)} client ${d.client.toFixed(3)}; ` +
              `API side pg ${a.pg.toFixed(3)} client ${a.client.toFixed(3)} API ${a.api.toFixed(3)}\n`,
          );
        }
      }
      const pick = (xs: Run[]): Run => ({
        p50: median(xs.map((x) => x.p50)),
        p95: median(xs.map((x) => x.p95)),
        perSecond: median(xs.map((x) => x.perSecond)),
      });
      rows.push({
        filter,
        directAlone: pick(runs.directAlone),
        apiAlone: pick(runs.apiAlone),
        directLoaded: pick(runs.directLoaded),
        apiLoaded: pick(runs.apiLoaded),
        found: found.join('/'),
        apiCpuMs: median(apiCpu),
        sqlSideCpuMs: median(sqlSideCpu),
        apiSideCpuMs: median(apiSideCpu),
      });
    }

    const [{ n } = { n: '?' }] = (await pool.query<{ n: string }>(`select count(*) as n from samples`)).rows;
    process.stdout.write(
      `\nSearch over ${n} samples. Latency: one request at a time, ${LATENCY_REQUESTS} per case; throughput: ` +
        `${CONCURRENCY} in flight, ${REQUESTS} per case; median of ${REPEATS}; rows = first-page rows per variant\n\n`,
    );
    const ms = (x: number) => `${x.toFixed(1)} ms`;
    const table = [
      [
        'filter',
        'rows',
        'SQL p50',
        'SQL p95',
        'API p50',
        'API p95',
        'SQL req/s',
        'API req/s',
        'API/SQL',
        `API p95 @${CONCURRENCY}`,
        'API CPU/req',
        'all CPU/req SQL, API',
        'goal',
      ],
      ...rows.map((r) => {
        const ratio = r.apiLoaded.perSecond / r.directLoaded.perSecond;
        return [
          r.filter.name,
          r.found,
          ms(r.directAlone.p50),
          ms(r.directAlone.p95),
          ms(r.apiAlone.p50),
          ms(r.apiAlone.p95),
          r.directLoaded.perSecond.toFixed(0),
          r.apiLoaded.perSecond.toFixed(0),
          ratio.toFixed(2),
          ms(r.apiLoaded.p95),
          `${r.apiCpuMs.toFixed(2)} ms`,
          `${r.sqlSideCpuMs.toFixed(2)}, ${r.apiSideCpuMs.toFixed(2)} ms`,
          r.apiAlone.p95 < 50 && ratio >= 0.5 ? 'met' : 'MISSED',
        ];
      }),
    ];
    const widths = table[0]?.map((_, c) => Math.max(...table.map((row) => (row[c] ?? '').length))) ?? [];
    for (const row of table) {
      process.stdout.write(`${row.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join('  ')}\n`);
    }
    process.stdout.write(
      `\ngoal: API p95 < 50 ms (one request at a time) and API/SQL throughput ≥ 0.5 (${CONCURRENCY} in flight)\n`,
    );
  } finally {
    agent.destroy();
    await pool.end();
    await database.close();
    await service.stop();
  }
}

await main();
