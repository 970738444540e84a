import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { rulesetChannel } from '#queue';
import {
  TestService,
  benign,
  compilerProcesses,
  fileMetadata,
  pollUntil,
  query,
  sha256,
  slowToCompileRule,
} from '#test-support';

interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}
interface Diagnostic {
  severity: string;
  rule: string | null;
  line: number;
  column: number | null;
  message: string;
}
interface Created {
  id: string;
  name: string;
  version: number;
  status: string;
  ruleCount: number;
  quarantined: string[];
  diagnostics: Diagnostic[];
}
interface SampleView {
  scanStatus: string;
  verdict: string | null;
  rulesetName: string | null;
  rulesetVersion: number | null;
  matches: Array<{ rule: string; noisy: boolean }>;
}

const json = (body: unknown): RequestInit => ({
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

/** A rule matching `marker` with meta score `score`. */
const rule = (name: string, marker: string, score: number) =>
  [
    `rule ${name}`,
    '{',
    `  meta: score = ${score}`,
    `  strings: $m = "${marker}"`,
    '  condition: $m',
    '}',
    '',
  ].join('\n');

/** Benign random bytes with markers inside. */
const withMarkers = (...markers: string[]): Buffer =>
  Buffer.concat([benign(512), ...markers.flatMap((m) => [Buffer.from(m), benign(256)])]);

describe('rulesets: versions, quarantine, hot swap, rule states, rescan', () => {
  let service: TestService;
  let cacheDir = '';
  let agent = '';
  let analyst = '';

  before(async () => {
    cacheDir = await mkdtemp(join(tmpdir(), 'specimen-rules-cache-'));
    service = new TestService({
      env: { SCAN_CONCURRENCY: '2', RULES_CACHE_DIR: cacheDir },
      checkAnswers: true,
    });
    await service.start();
    agent = await service.token('agent');
    analyst = await service.token('analyst', 'ana');
  });
  after(async () => {
    await service.stop();
    await rm(cacheDir, { recursive: true, force: true });
  });

  async function createRuleset(name: string, source: string, token = analyst): Promise<Created> {
    const res = await service.request('/v1/rulesets', { method: 'POST', token, ...json({ name, source }) });
    assert.equal(res.status, 201, await res.clone().text());
    return (await res.json()) as Created;
  }

  async function activate(id: string): Promise<void> {
    const res = await service.request(`/v1/rulesets/${id}/activate`, { method: 'POST' });
    assert.equal(res.status, 200, await res.clone().text());
  }

  async function submitAndWait(bytes: Buffer): Promise<SampleView> {
    const res = await service.submit(bytes, fileMetadata(bytes), agent);
    assert.equal(res.status, 201, await res.clone().text());
    return scanned(sha256(bytes));
  }

  async function scanned(sha: string, accept: (v: SampleView) => boolean = () => true): Promise<SampleView> {
    return pollUntil(
      async () => {
        const res = await service.request(`/v1/samples/${sha}`, { token: analyst });
        const view = (await res.json()) as SampleView;
        return view.scanStatus === 'scanned' && accept(view) ? view : undefined;
      },
      { timeoutMs: 30_000, what: `the scan of ${sha}` },
    );
  }

  it('takes a rule source of several MiB, reading it only after the token is checked', async () => {
    // 4,000 rules with comments: about 2.4 MB of source, over the 1 MiB body limit of every other route.
    const padding = `// ${'signature-base style commentary '.repeat(16)}`;
    const rules = Array.from({ length: 4_000 }, (_, i) =>
      [
        padding,
        `rule Big_${i}`,
        '{',
        `  strings: $m = "SPECIMEN-BIG-${i}-MARKER"`,
        '  condition: $m',
        '}',
      ].join('\n'),
    );
    const source = rules.join('\n');
    assert.ok(source.length > 2 * 1024 * 1024, `${source.length} chars`);

    const anonymous = await fetch(`${service.baseUrl}/v1/rulesets`, {
      method: 'POST',
      ...json({ name: 'big', source }),
    });
    assert.equal(anonymous.status, 401);
    assert.equal(((await anonymous.json()) as ErrorBody).error.code, 'UNAUTHENTICATED');

    const created = await createRuleset('big', source);
    assert.equal(created.ruleCount, 4_000);
    assert.deepEqual(created.quarantined, []);

    const tooLarge = await service.request('/v1/retrohunts', {
      method: 'POST',
      token: analyst,
      ...json({ source: 'x'.repeat(33 * 1024 * 1024) }),
    });
    assert.equal(tooLarge.status, 413);
    const error = ((await tooLarge.json()) as ErrorBody).error;
    assert.equal(error.code, 'FILE_TOO_LARGE');
    assert.equal(error.details?.limit, 32 * 1024 * 1024);

    const notJson = await service.request('/v1/rulesets', {
      method: 'POST',
      token: analyst,
      headers: { 'content-type': 'application/json' },
      body: '{"name": "big",',
    });
    assert.equal(notJson.status, 400);
    assert.equal(((await notJson.json()) as ErrorBody).error.code, 'VALIDATION_FAILED');

    // Every other route keeps the small limit, checked before its guards.
    const tokens = await service.request('/v1/tokens', { method: 'POST', ...json({ name: 'x', source }) });
    assert.equal(tokens.status, 413);
  });

  it('refuses a JSON body sent as something else with 415, naming the header', async () => {
    const body = JSON.stringify({ name: 'form', source: 'rule a { condition: true }' });
    // What `curl --data` sends without -H 'content-type: application/json', and what a bare fetch sends.
    for (const [path, type] of [
      ['/v1/rulesets', 'application/x-www-form-urlencoded'],
      ['/v1/tokens', 'application/x-www-form-urlencoded'],
      ['/v1/tokens', 'text/plain;charset=UTF-8'],
    ] as const) {
      const res = await service.request(path, { method: 'POST', headers: { 'content-type': type }, body });
      assert.equal(res.status, 415, `${path} ${type}: ${await res.clone().text()}`);
      const error = ((await res.json()) as ErrorBody & { error: { message: string } }).error;
      assert.equal(error.code, 'UNSUPPORTED_MEDIA_TYPE');
      assert.match(error.message, /Content-Type: application\/json/);
    }
    // The guards still come first, and no body at all is a validation error as before.
    const anonymous = await fetch(`${service.baseUrl}/v1/tokens`, { method: 'POST', body });
    assert.equal(anonymous.status, 401);
    const empty = await service.request('/v1/tokens', { method: 'POST' });
    assert.equal(empty.status, 400);
    assert.equal(((await empty.json()) as ErrorBody).error.code, 'VALIDATION_FAILED');
  });

  it('refuses a rule source with a NUL character, which YARA would read as its end', async () => {
    for (const path of ['/v1/rulesets', '/v1/retrohunts']) {
      const res = await service.request(path, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          ...(path === '/v1/rulesets' ? { name: 'nul' } : {}),
          source: 'rule n1 { condition: true }\u0000\nrule n2 { condition: true }',
        }),
      });
      assert.equal(res.status, 400, `${path}: ${await res.clone().text()}`);
      const { error } = (await res.json()) as ErrorBody & { error: { message: string } };
      assert.equal(error.code, 'VALIDATION_FAILED');
      assert.match(error.message, /body\.source: must not contain a NUL character \(found at offset 27\)/);
    }
  });

  it('quarantines a broken rule with its line, and the other rules match once activated', async () => {
    const source = [
      rule('Good_One', 'SPECIMEN-GOOD-ONE', 100),
      'rule Broken',
      '{',
      '  strings: $a = "never"',
      '  condition: $b',
      '}',
      '',
      rule('Good_Two', 'SPECIMEN-GOOD-TWO', 40),
    ].join('\n');
    const created = await createRuleset('lab', source);
    assert.equal(created.status, 'staging');
    assert.equal(created.version, 1);
    assert.equal(created.ruleCount, 2);
    assert.deepEqual(created.quarantined, ['Broken']);
    const [error] = created.diagnostics.filter((d) => d.severity === 'error');
    assert.equal(error?.rule, 'Broken');
    assert.equal(error.line, 11, JSON.stringify(error));
    assert.equal(error.column, 14, JSON.stringify(error));
    assert.match(error.message, /\$b/);

    const analystActivates = await service.request(`/v1/rulesets/${created.id}/activate`, {
      method: 'POST',
      token: analyst,
    });
    assert.equal(analystActivates.status, 403);
    assert.equal(((await analystActivates.json()) as ErrorBody).error.code, 'FORBIDDEN');

    await activate(created.id);
    const view = await submitAndWait(withMarkers('SPECIMEN-GOOD-ONE', 'SPECIMEN-GOOD-TWO'));
    assert.deepEqual(view.matches.map((m) => m.rule).sort(), ['Good_One', 'Good_Two']);
    assert.equal(view.verdict, 'malicious');
    assert.equal(view.rulesetName, 'lab');
    assert.equal(view.rulesetVersion, 1);

    const list = await service.request('/v1/rulesets', { token: analyst });
    const versions = (await list.json()) as Array<{
      id: string;
      name: string;
      status: string;
      ruleCount: number;
      createdBy: { name: string } | null;
      activatedBy: { name: string } | null;
    }>;
    const lab = versions.find((v) => v.id === created.id);
    assert.equal(lab?.status, 'active');
    assert.equal(lab.createdBy?.name, 'ana');
    assert.equal(lab.activatedBy?.name, 'bootstrap-admin');
    assert.equal(versions.find((v) => v.name === 'default')?.status, 'disabled');

    const detail = await service.request(`/v1/rulesets/${created.id}`, { token: analyst });
    const body = (await detail.json()) as { source: string; rules: Array<{ name: string; state: string }> };
    assert.equal(body.source, source);
    assert.deepEqual(body.rules, [
      { name: 'Good_One', state: 'enabled' },
      { name: 'Broken', state: 'quarantined' },
      { name: 'Good_Two', state: 'enabled' },
    ]);
    // A quarantined rule cannot be enabled (or given any state): it does not compile.
    const enable = await service.request(`/v1/rulesets/${created.id}/rules/Broken`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ state: 'enabled' }),
    });
    assert.equal(enable.status, 409, await enable.clone().text());
    assert.match(((await enable.json()) as { error: { message: string } }).error.message, /does not compile/);

    const audit = await query<{ action: string }>(
      service.databaseUrl,
      'select action from audit_log where target_id = $1 order by id',
      [created.id],
    );
    assert.deepEqual(
      audit.map((a) => a.action),
      ['ruleset.create', 'ruleset.activate'],
    );
  });

  it('keeps the first of two rules with one name: the later is quarantined at its line, the name can be changed', async () => {
    const source = [
      rule('Twice', 'SPECIMEN-TWICE', 90),
      '',
      'rule Twice',
      '{',
      '  condition: false',
      '}',
    ].join('\n');
    const created = await createRuleset('twice', source);
    assert.equal(created.ruleCount, 1);
    const [error] = created.diagnostics.filter((d) => d.severity === 'error');
    assert.equal(error?.line, source.split('\n').lastIndexOf('rule Twice') + 1, JSON.stringify(error));
    assert.match(error.message, /duplicated identifier "Twice".*defined at line 1/);
    const detail = (await (
      await service.request(`/v1/rulesets/${created.id}`, { token: analyst })
    ).json()) as {
      rules: Array<{ name: string; state: string }>;
    };
    assert.deepEqual(detail.rules, [
      { name: 'Twice', state: 'enabled' },
      { name: 'Twice', state: 'quarantined' },
    ]);
    // The first definition runs, so its name takes a state (it was refused as quarantined).
    const noisy = await service.request(`/v1/rulesets/${created.id}/rules/Twice`, {
      method: 'PATCH',
      token: analyst,
      ...json({ state: 'noisy' }),
    });
    assert.equal(noisy.status, 200, await noisy.clone().text());
  });

  it('refuses a ruleset in which nothing compiles, naming each error', async () => {
    const res = await service.request('/v1/rulesets', {
      method: 'POST',
      token: analyst,
      ...json({ name: 'broken', source: 'rule A { condition: $x }\n\nrule B { condition: nope }\n' }),
    });
    assert.equal(res.status, 400);
    const body = (await res.json()) as ErrorBody;
    assert.equal(body.error.code, 'VALIDATION_FAILED');
    const diagnostics = body.error.details?.diagnostics as Diagnostic[];
    assert.deepEqual(
      diagnostics.map((d) => [d.rule, d.line]),
      [
        ['A', 1],
        ['B', 3],
      ],
    );
    for (const d of diagnostics) assert.ok('column' in d && d.message.length > 0);
  });

  it('refuses to disable a global or private rule, or mark it noisy: states act on matches they do not have', async () => {
    const created = await createRuleset(
      'modifiers',
      [
        'global rule Gate { condition: filesize > 10 }',
        'private rule Helper { strings: $a = "SPECIMEN-HELPER" condition: $a }',
        'rule Uses_Helper { condition: Helper }',
      ].join('\n'),
    );
    const patch = (rule: string, state: string) =>
      service.request(`/v1/rulesets/${created.id}/rules/${rule}`, {
        method: 'PATCH',
        token: analyst,
        ...json({ state }),
      });
    for (const [rule, state, said] of [
      ['Gate', 'disabled', /rule Gate is global: it gates every rule/],
      ['Gate', 'noisy', /marking it noisy would not lift/],
      ['Helper', 'disabled', /rule Helper is private: it reports no match of its own/],
      ['Helper', 'noisy', /marking it noisy would change nothing/],
    ] as const) {
      const res = await patch(rule, state);
      assert.equal(res.status, 409, `${rule} ${state}: ${await res.clone().text()}`);
      const { error } = (await res.json()) as ErrorBody & { error: { message: string } };
      assert.equal(error.code, 'CONFLICT');
      assert.match(error.message, said);
    }
    // Enabled is what they are: fine. And the rule that uses the private one takes states as any other.
    assert.equal((await patch('Gate', 'enabled')).status, 200);
    assert.equal((await patch('Uses_Helper', 'noisy')).status, 200);
  });

  it('records noisy rules without raising the verdict, and never counts disabled ones', async () => {
    const [lab] = await query<{ id: string }>(
      service.databaseUrl,
      "select id from rulesets where name = 'lab'",
    );
    assert.ok(lab);
    const byAnalyst = await service.request(`/v1/rulesets/${lab.id}/rules/Good_One`, {
      method: 'PATCH',
      token: analyst,
      ...json({ state: 'noisy' }),
    });
    assert.equal(byAnalyst.status, 403, 'analysts change rules in staging only');
    for (const [name, state] of [
      ['Good_One', 'noisy'],
      ['Good_Two', 'disabled'],
    ] as const) {
      const res = await service.request(`/v1/rulesets/${lab.id}/rules/${name}`, {
        method: 'PATCH',
        ...json({ state }),
      });
      assert.equal(res.status, 200, await res.clone().text());
    }
    // Who changed what: each rule with a state set says by whom and when.
    const view = (await (await service.request(`/v1/rulesets/${lab.id}`, { token: analyst })).json()) as {
      rules: Array<{ name: string; state: string; changedBy?: { name: string | null }; changedAt?: string }>;
    };
    const good = view.rules.find((r) => r.name === 'Good_One');
    assert.equal(good?.state, 'noisy');
    assert.equal(good.changedBy?.name, 'bootstrap-admin');
    assert.ok(Date.now() - Date.parse(good.changedAt ?? '') < 60_000);
    assert.equal(
      view.rules.some((r) => r.name !== 'Good_One' && r.name !== 'Good_Two' && 'changedBy' in r),
      false,
    );
    const unknown = await service.request(`/v1/rulesets/${lab.id}/rules/Nope`, {
      method: 'PATCH',
      ...json({ state: 'noisy' }),
    });
    assert.equal(unknown.status, 404);

    const noisy = await submitAndWait(withMarkers('SPECIMEN-GOOD-ONE'));
    assert.deepEqual(noisy.matches, [{ ...noisy.matches[0], rule: 'Good_One', noisy: true }]);
    assert.equal(noisy.verdict, 'clean');

    const disabled = await submitAndWait(withMarkers('SPECIMEN-GOOD-TWO'));
    assert.deepEqual(disabled.matches, []);
    assert.equal(disabled.verdict, 'clean');

    const audit = await query<{ n: string }>(
      service.databaseUrl,
      "select count(*) as n from audit_log where action = 'ruleset.rule-state' and target_id = $1",
      [lab.id],
    );
    assert.equal(Number(audit[0]?.n), 2);
  });

  it('switches every scan to a new version while 200 are in flight: none lost, each with its version', async (t) => {
    const v1 = await createRuleset('markers', rule('Marker', 'SPECIMEN-MARKER', 40));
    const v2 = await createRuleset('markers', rule('Marker', 'SPECIMEN-MARKER', 90));
    assert.equal(v2.version, v1.version + 1);
    await activate(v1.id);
    // A second scanner replica: both must switch. Each subscribes to the change channel once started.
    const first = service.scanner;
    service.startScanner();
    const replica = service.scanner;
    service.scanner = first;
    t.after(async () => {
      if (replica === null || replica.exitCode !== null) return;
      const exited = new Promise((resolve) => replica.once('exit', resolve));
      replica.kill('SIGTERM');
      await exited;
    });
    const redis = new Redis('redis://127.0.0.1:6379');
    try {
      await pollUntil(
        async () => {
          const [, subscribers] = (await redis.pubsub('NUMSUB', rulesetChannel(service.queuePrefix))) as [
            string,
            number,
          ];
          return subscribers === 2 ? true : undefined;
        },
        { timeoutMs: 30_000, what: 'two scanners subscribed to ruleset changes' },
      );
    } finally {
      redis.disconnect();
    }
    const pids = [first?.pid, replica?.pid];

    const samples = Array.from({ length: 200 }, () => withMarkers('SPECIMEN-MARKER'));
    let submitted = 0;
    const activation: Array<Promise<void>> = [];
    const queue = [...samples];
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
          const res = await service.submit(next, fileMetadata(next), agent);
          assert.equal(res.status, 201);
          submitted += 1;
          if (submitted === 100) activation.push(activate(v2.id));
        }
      }),
    );
    await Promise.all(activation);
    const later = Array.from({ length: 40 }, () => withMarkers('SPECIMEN-MARKER'));
    for (const bytes of later) {
      assert.equal((await service.submit(bytes, fileMetadata(bytes), agent)).status, 201);
    }

    const all = [...samples, ...later].map(sha256);
    const rows = await pollUntil(
      async () => {
        const found = await query<{
          sha: string;
          status: string;
          verdict: string;
          version: number;
          id: string;
        }>(
          service.databaseUrl,
          `select s.sample_sha256 as sha, s.status, s.verdict, r.version, r.id
             from scans s join rulesets r on r.id = s.ruleset_id
            where s.sample_sha256 = any($1)`,
          [all],
        );
        return found.length >= all.length ? found : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 500, what: 'all 240 scans' },
    );
    assert.equal(rows.length, all.length, 'one scan per sample');
    assert.equal(new Set(rows.map((r) => r.sha)).size, all.length);
    for (const row of rows) {
      assert.equal(row.status, 'scanned');
      // The verdict shows which compiled rules actually ran: v1 scores 40, v2 scores 90.
      assert.equal(row.verdict, row.id === v1.id ? 'suspicious' : 'malicious', JSON.stringify(row));
      assert.ok(row.id === v1.id || row.id === v2.id);
    }
    const byVersion = (id: string) => rows.filter((r) => r.id === id).length;
    t.diagnostic(
      `scanned with v${v1.version}: ${byVersion(v1.id)}, with v${v2.version}: ${byVersion(v2.id)}`,
    );
    assert.ok(byVersion(v1.id) > 0 && byVersion(v2.id) > 0, `v1 ${byVersion(v1.id)}, v2 ${byVersion(v2.id)}`);
    const laterShas = new Set(later.map(sha256));
    for (const row of rows.filter((r) => laterShas.has(r.sha))) assert.equal(row.id, v2.id);

    assert.deepEqual([service.scanner?.pid, replica?.pid], pids, 'the same scanner processes');
    assert.equal(service.scanner?.exitCode, null);
    assert.equal(replica?.exitCode, null);
    const cached = (await readdir(cacheDir)).filter((f) => f.endsWith('.rules'));
    assert.ok(
      cached.some((f) => f.includes('.markers.')),
      cached.join(', '),
    );
  });

  it('rescans a known sample with the active ruleset and updates its verdict', async () => {
    const bytes = withMarkers('SPECIMEN-RESCAN-ME');
    const first = await submitAndWait(bytes);
    assert.equal(first.verdict, 'clean');

    const created = await createRuleset('rescan', rule('Rescan_Me', 'SPECIMEN-RESCAN-ME', 100));
    await activate(created.id);
    const sha = sha256(bytes);
    assert.equal(
      (await service.request(`/v1/samples/${sha}/rescan`, { method: 'POST', token: agent })).status,
      403,
    );
    const res = await service.request(`/v1/samples/${sha}/rescan`, { method: 'POST', token: analyst });
    assert.equal(res.status, 202, await res.clone().text());
    const queued = (await res.json()) as { jobId: string; sha256: string };
    assert.match(queued.jobId, new RegExp(`^scan-rescan-[0-9a-f-]{36}-${sha}$`));

    const view = await scanned(sha, (v) => v.rulesetName === 'rescan');
    assert.equal(view.verdict, 'malicious');
    assert.deepEqual(
      view.matches.map((m) => m.rule),
      ['Rescan_Me'],
    );
    const missing = await service.request(`/v1/samples/${'0'.repeat(64)}/rescan`, {
      method: 'POST',
      token: analyst,
    });
    assert.equal(missing.status, 404);
  });

  it('rescans the samples a rule matched when an admin disables it with rescan, and every sample when it comes back', async () => {
    const bytes = withMarkers('SPECIMEN-FLIP-RULE');
    const created = await createRuleset('flip', rule('Flip_Rule', 'SPECIMEN-FLIP-RULE', 100));
    const patch = (body: unknown) =>
      service.request(`/v1/rulesets/${created.id}/rules/Flip_Rule`, { method: 'PATCH', ...json(body) });
    // Staging: nothing to rescan with.
    const early = await patch({ state: 'noisy', rescan: true });
    assert.equal(early.status, 409, await early.clone().text());
    await activate(created.id);
    const sha = sha256(bytes);
    assert.equal((await submitAndWait(bytes)).verdict, 'malicious');

    const disabled = await patch({ state: 'disabled', rescan: true });
    assert.equal(disabled.status, 200, await disabled.clone().text());
    const first = (await disabled.json()) as {
      state: string;
      rescan?: { jobId: string; allSamples: boolean };
    };
    assert.equal(first.rescan?.allSamples, false, 'only the samples it matched');
    assert.match(first.rescan.jobId, /-rule-Flip_Rule-start$/);
    const clean = await scanned(sha, (v) => v.verdict === 'clean');
    assert.deepEqual(clean.matches, []);

    // Back from disabled: its matches were never recorded, so every sample is rescanned.
    const enabled = await patch({ state: 'enabled', rescan: true });
    assert.equal(enabled.status, 200, await enabled.clone().text());
    assert.equal(((await enabled.json()) as { rescan?: { allSamples: boolean } }).rescan?.allSamples, true);
    assert.equal((await scanned(sha, (v) => v.verdict === 'malicious')).matches[0]?.rule, 'Flip_Rule');
  });
});

describe('rulesets and retrohunts: compile limits', () => {
  let service: TestService;
  let analyst = '';

  before(async () => {
    service = new TestService({ scanner: false, env: { RULES_COMPILE_TIMEOUT_MS: '1500' } });
    await service.start();
    analyst = await service.token('analyst', 'ana');
  });
  after(async () => {
    await service.stop();
  });

  it('stops a compile at RULES_COMPILE_TIMEOUT_MS with a 400 that says so, and compiles the next at once', async () => {
    for (const [path, body] of [
      ['/v1/rulesets', { name: 'slow', source: slowToCompileRule(600) }],
      ['/v1/retrohunts', { source: slowToCompileRule(600) }],
    ] as const) {
      const started = performance.now();
      const res = await service.request(path, { method: 'POST', token: analyst, ...json(body) });
      const ms = performance.now() - started;
      assert.equal(res.status, 400, await res.clone().text());
      const { error } = (await res.json()) as ErrorBody;
      assert.equal(error.code, 'VALIDATION_FAILED');
      assert.match(error.message, /^the rules did not compile within 1\.5 s \(RULES_COMPILE_TIMEOUT_MS\)/);
      assert.ok(ms < 5_000, `${path} answered after ${Math.round(ms)} ms`);
      assert.deepEqual(
        compilerProcesses(service.api?.pid),
        [],
        'the compiler process is gone with the request',
      );
    }
    const started = performance.now();
    const res = await service.request('/v1/rulesets', {
      method: 'POST',
      token: analyst,
      ...json({ name: 'quick', source: rule('Quick_Rule', 'SPECIMEN-QUICK', 50) }),
    });
    assert.equal(res.status, 201, await res.clone().text());
    assert.ok(performance.now() - started < 1_500, 'the next compile did not wait behind the stopped one');
  });
});
