// Authentication benchmark: what the bearer token costs a small request. Runs the compiled API (no scanner)
// and sends, in the same run and interleaved, `GET /health/live` (public: no token, no guard work) and
// `GET /v1/me` (an analyst's token: AuthGuard, role check, a small JSON answer), BENCH_CONCURRENCY requests
// in flight on keep-alive connections. Prints requests per second and the API process's CPU time per
// request (utime + stime from /proc, so a busy machine disturbs it less than wall time), each the median
// of BENCH_REPEATS rounds, and the ratio /v1/me ÷ /health/live of both.
// Run: npm run bench:auth   (BENCH_REQUESTS=2000 BENCH_REPEATS=3 for a shorter run; AUTH_CACHE_MS=0 in
// the environment runs the API without its principal cache, for comparison; BENCH_API_NODE_OPTIONS is the
// API's NODE_OPTIONS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile it).
import { Agent, request } from 'node:http';
import { TestService } from '#test-support';
import { median, processCpuMs as cpuMs } from './measure.js';

const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 5_000);
const REPEATS = Number(process.env.BENCH_REPEATS ?? 5);
function get(agent: Agent, url: string, token: string | null): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { agent, headers: token === null ? {} : { authorization: `Bearer ${token}` } },
      (res) => {
        res.resume();
        res.on('end', () =>
          res.statusCode === 200 ? resolve() : reject(new Error(`GET ${url}: ${res.statusCode}`)),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

interface Round {
  perSecond: number;
  cpuMsPerRequest: number;
}

async function round(
  agent: Agent,
  pid: number,
  url: string,
  token: string | null,
  count: number,
): Promise<Round> {
  let next = 0;
  const cpu = cpuMs(pid);
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) {
        next++;
        await get(agent, url, token);
      }
    }),
  );
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  return { perSecond: count / (wallMs / 1000), cpuMsPerRequest: (cpuMs(pid) - cpu) / count };
}

async function main(): Promise<void> {
  const env: Record<string, string> = { LOG_LEVEL: 'warn' };
  if (process.env.AUTH_CACHE_MS !== undefined) env.AUTH_CACHE_MS = process.env.AUTH_CACHE_MS;
  if (process.env.BENCH_API_NODE_OPTIONS !== undefined) env.NODE_OPTIONS = process.env.BENCH_API_NODE_OPTIONS;
  const service = new TestService({ scanner: false, env });
  await service.start();
  try {
    const pid = service.api?.pid;
    if (pid === undefined) throw new Error('no API process');
    const token = await service.token('analyst');
    const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const cases = [
      { name: 'GET /health/live', url: `${service.baseUrl}/health/live`, token: null },
      { name: 'GET /v1/me', url: `${service.baseUrl}/v1/me`, token },
    ];
    for (const c of cases) await round(agent, pid, c.url, c.token, Math.min(REQUESTS, 1_000)); // warm-up
    const results = new Map<string, Round[]>(cases.map((c) => [c.name, []]));
    for (let r = 0; r < REPEATS; r++) {
      for (const c of cases) results.get(c.name)?.push(await round(agent, pid, c.url, c.token, REQUESTS));
    }
    agent.destroy();
    console.log(
      `${REQUESTS} requests × ${REPEATS} rounds, ${CONCURRENCY} in flight, AUTH_CACHE_MS=${env.AUTH_CACHE_MS ?? '(default)'}`,
    );
    const rows = cases.map((c) => {
      const rounds = results.get(c.name) ?? [];
      return {
        name: c.name,
        perSecond: median(rounds.map((x) => x.perSecond)),
        cpu: median(rounds.map((x) => x.cpuMsPerRequest)),
      };
    });
    for (const row of rows) {
      console.log(
        `${row.name.padEnd(18)} ${row.perSecond.toFixed(0).padStart(7)} req/s  ${row.cpu.toFixed(3)} ms CPU/request`,
      );
    }
    const [live, me] = rows;
    if (live !== undefined && me !== undefined) {
      console.log(
        `ratio /v1/me ÷ /health/live: throughput ${(me.perSecond / live.perSecond).toFixed(2)}, ` +
          `CPU per request ${(me.cpu / live.cpu).toFixed(2)} (auth adds ${(me.cpu - live.cpu).toFixed(3)} ms CPU)`,
      );
    }
  } finally {
    await service.stop();
  }
}

await main();
