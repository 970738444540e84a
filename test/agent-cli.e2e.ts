import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { type IncomingMessage, type ServerResponse, createServer, request } from 'node:http';
import { mkdir, mkdtemp, open, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { projectRoot } from '#config';
import { EICAR, TestService, benign, fileMetadata, pollUntil, query, sha256 } from '#test-support';

const MiB = 1024 * 1024;
/** Options that send a file over tus in 1 MiB chunks (every test file here is larger than 1 MiB). */
const IN_CHUNKS = ['--resumable-threshold', String(MiB), '--chunk-size', String(MiB)];
const CLI = join(projectRoot(), 'dist', 'apps', 'agent', 'src', 'main.js');

interface AgentState {
  uploads: Record<string, { url: string; name?: string }>;
  postings?: Record<string, { key: string; name: string }>;
  submissions: Array<{ submissionId: string; sha256: string; name: string }>;
}

/**
 * The agent's state as the README describes its files: the journal `state.jsonl` replayed (its complete
 * lines: a run may be writing the last one), else an old-format `state.json`. Read only.
 */
async function savedState(home: string): Promise<AgentState> {
  const text = await readFile(join(home, 'state.jsonl'), 'utf8').catch(() => null);
  if (text === null) {
    const old = await readFile(join(home, 'state.json'), 'utf8').catch(() => null);
    return old === null ? { uploads: {}, submissions: [] } : (JSON.parse(old) as AgentState);
  }
  const state: AgentState = { uploads: {}, submissions: [] };
  for (const line of text.split('\n').slice(0, -1)) {
    const r = JSON.parse(line) as {
      t: string;
      sha256: string;
      url: string;
      key: string;
      name?: string;
      submissionId: string;
    };
    if (r.t === 'upload')
      state.uploads[r.sha256] = { url: r.url, ...(r.name === undefined ? {} : { name: r.name }) };
    if (r.t === 'posting') (state.postings ??= {})[r.sha256] = { key: r.key, name: r.name ?? '' };
    if (r.t === 'drop' || r.t === 'submitted') {
      delete state.uploads[r.sha256];
      delete state.postings?.[r.sha256];
    }
    if (r.t === 'submitted' && !state.submissions.some((x) => x.submissionId === r.submissionId))
      state.submissions.push({ submissionId: r.submissionId, sha256: r.sha256, name: r.name ?? '' });
  }
  return state;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function startCli(home: string, args: string[]): { child: ChildProcess; done: Promise<Run> } {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH ?? '', SPECIMEN_AGENT_HOME: home },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const done = new Promise<Run>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { child, done };
}

async function cli<T>(home: string, args: string[]): Promise<T> {
  const run = await startCli(home, [...args, '--json']).done;
  assert.equal(run.code, 0, `specimen-agent ${args.join(' ')}: ${run.stderr}${run.stdout}`);
  return JSON.parse(run.stdout) as T;
}

/** The CLI in a terminal of its own (util-linux script): stdout and stderr both a TTY, as for a person. */
function inTerminal(
  home: string,
  args: string[],
): { child: ChildProcess & { stdin: NodeJS.WritableStream }; exited: Promise<number | null>; shown: string } {
  const command = [process.execPath, CLI, ...args].map((a) => `'${a}'`).join(' ');
  const child = spawn('script', ['-qfec', command, '/dev/null'], {
    env: { PATH: process.env.PATH ?? '', SPECIMEN_AGENT_HOME: home, TERM: 'dumb' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const run = {
    child,
    exited: new Promise<number | null>((resolve) => child.on('close', resolve)),
    shown: '',
  };
  child.stdout.on('data', (c: Buffer) => (run.shown += c.toString()));
  return run;
}

interface SubmitOutput {
  results: Array<{
    name: string;
    sha256: string;
    action: string;
    via?: string;
    verdict?: string;
    resumedFrom?: number;
    submissionId?: string;
    error?: string;
  }>;
}

interface StatusOutput {
  agentId: string;
  pendingUploads: number;
  submissions: Array<{ sha256: string; status: string; verdict: string | null }>;
}

describe('specimen-agent against the real service', () => {
  const service = new TestService();
  let work = '';

  before(async () => {
    await service.start();
    work = await mkdtemp(join(tmpdir(), 'specimen-agent-'));
  });
  after(async () => {
    await service.stop();
    await rm(work, { recursive: true, force: true });
  });

  /** Sends `bytes` as the admin and waits for its scan: the sample is then known, with a verdict. */
  async function storedAndScanned(bytes: Buffer): Promise<void> {
    const first = await service.submit(bytes, fileMetadata(bytes), service.adminToken);
    assert.equal(first.status, 201);
    const { submissionId } = (await first.json()) as { submissionId: string };
    await pollUntil(async () => {
      const res = await service.request(`/v1/submissions/${submissionId}`);
      return ((await res.json()) as { status: string }).status === 'scanned' ? true : undefined;
    });
  }

  async function enrolledHome(name: string, server = service.baseUrl): Promise<string> {
    const home = join(work, name);
    const res = await service.request('/v1/enrollment-tokens', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ttlSeconds: 600, maxUses: 1 }),
    });
    const { token } = (await res.json()) as { token: string };
    const enrolled = await cli<{ agentId: string }>(home, [
      'enroll',
      '--server',
      server,
      '--enrollment-token',
      token,
      '--country',
      'fr',
    ]);
    assert.match(enrolled.agentId, /^[0-9a-f-]{36}$/);
    const consent = await cli<{ participating: boolean }>(home, ['consent', '--participate']);
    assert.equal(consent.participating, true);
    return home;
  }

  it('enrolls, consents, submits a folder hash-first and shows the verdicts', async () => {
    const home = await enrolledHome('folder');
    assert.equal((await stat(join(home, 'config.json'))).mode & 0o777, 0o600);
    const dir = join(work, 'samples');
    await mkdir(join(dir, 'sub', 'deeper'), { recursive: true });
    const known = benign(3000);
    const plain = benign(5000);
    const deep = benign(7000);
    await writeFile(join(dir, 'a.bin'), plain);
    await writeFile(join(dir, 'sub', 'eicar.com'), EICAR);
    await writeFile(join(dir, 'sub', 'deeper', 'c.bin'), deep);
    await writeFile(join(dir, 'known.bin'), known);
    await storedAndScanned(known);

    const out = await cli<SubmitOutput>(home, ['submit', dir]);
    const by = new Map(out.results.map((r) => [r.sha256, r]));
    assert.equal(out.results.length, 4);
    assert.equal(by.get(sha256(known))?.action, 'known');
    for (const bytes of [plain, deep, EICAR]) {
      assert.deepEqual(
        { action: by.get(sha256(bytes))?.action, via: by.get(sha256(bytes))?.via },
        { action: 'uploaded', via: 'multipart' },
      );
    }

    const status = await pollUntil(
      async () => {
        const s = await cli<StatusOutput>(home, ['status']);
        return s.submissions.length === 3 && s.submissions.every((x) => x.status === 'scanned')
          ? s
          : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500, what: 'verdicts in specimen-agent status' },
    );
    const verdicts = new Map(status.submissions.map((s) => [s.sha256, s.verdict]));
    assert.equal(verdicts.get(sha256(EICAR)), 'malicious');
    assert.equal(verdicts.get(sha256(plain)), 'clean');
    assert.equal(verdicts.get(sha256(deep)), 'clean');
  });

  it('sends the rest of a folder past links, FIFOs, empty files and paths that cannot be read', async () => {
    const home = await enrolledHome('odd-entries');
    const dir = join(work, 'odd');
    await mkdir(join(dir, 'inner'), { recursive: true });
    const good = benign(4100);
    const linked = benign(4200);
    await writeFile(join(dir, 'inner', 'good.bin'), good);
    await writeFile(join(work, 'linked.bin'), linked);
    await writeFile(join(dir, 'empty'), '');
    await symlink('/nonexistent/specimen', join(dir, 'dangling'));
    await symlink('..', join(dir, 'inner', 'loop')); // followed, the walk would never end
    await symlink(join(work, 'linked.bin'), join(dir, 'link.bin'));
    execFileSync('mkfifo', [join(dir, 'fifo')]); // read, it would block the run
    const missing = join(work, 'no-such-file');

    const run = await startCli(home, ['submit', dir, missing, '--json']).done;
    assert.equal(run.code, 1, `a path that cannot be read fails the run: ${run.stderr}`);
    const out = JSON.parse(run.stdout) as SubmitOutput;
    const by = new Map(out.results.map((r) => [r.name, r]));
    assert.deepEqual(
      [...by.keys()].sort(),
      [
        join(dir, 'dangling'),
        join(dir, 'empty'),
        join(dir, 'fifo'),
        join(dir, 'inner', 'good.bin'),
        join(dir, 'inner', 'loop'),
        join(dir, 'link.bin'),
        missing,
      ].sort(),
    );
    assert.equal(by.get(join(dir, 'inner', 'good.bin'))?.action, 'uploaded');
    for (const name of ['dangling', 'link.bin', join('inner', 'loop')]) {
      assert.deepEqual(
        { action: by.get(join(dir, name))?.action, error: by.get(join(dir, name))?.error },
        { action: 'skipped', error: 'a symbolic link inside a folder: not followed' },
      );
    }
    assert.match(by.get(join(dir, 'fifo'))?.error ?? '', /a FIFO/);
    assert.equal(by.get(join(dir, 'fifo'))?.action, 'skipped');
    assert.match(by.get(join(dir, 'empty'))?.error ?? '', /empty/);
    assert.equal(by.get(missing)?.action, 'failed');
    assert.match(by.get(missing)?.error ?? '', /ENOENT/);
    // Named on the command line, a link is followed.
    const direct = await cli<SubmitOutput>(home, ['submit', join(dir, 'link.bin')]);
    assert.deepEqual(
      direct.results.map((r) => [r.sha256, r.action]),
      [[sha256(linked), 'uploaded']],
    );
  });

  it('never sends its own folder (its API key), inside a folder given or named itself', async () => {
    // The home inside the folder being submitted, as with `specimen-agent submit ~`.
    const parent = join(work, 'user-home');
    await mkdir(parent, { recursive: true });
    const home = join(parent, '.specimen-agent');
    await rename(await enrolledHome('in-user-home'), home);
    const doc = benign(4300);
    await writeFile(join(parent, 'doc.bin'), doc);
    const out = await cli<SubmitOutput>(home, ['submit', parent]);
    assert.deepEqual(
      out.results.map((r) => [r.name, r.action, r.error ?? null]).sort(),
      [
        [home, 'skipped', "the agent's own folder (its API key): never sent"],
        [join(parent, 'doc.bin'), 'uploaded', null],
      ].sort(),
    );
    const direct = await cli<SubmitOutput>(home, ['submit', join(home, 'config.json')]);
    assert.deepEqual(
      direct.results.map((r) => r.action),
      ['skipped'],
    );
    const sent = await query<{ filename: string | null }>(
      service.databaseUrl,
      `select filename from submissions where filename like '%config.json%' or filename like '%state.json%'`,
    );
    assert.deepEqual(sent, []);
  });

  it('shows file names with escape sequences, newlines or bidi overrides harmlessly on a terminal', async () => {
    const home = await enrolledHome('hostile-names');
    const dir = join(work, 'hostile');
    await mkdir(dir, { recursive: true });
    const forged = 'evil\u001b[2J\u001b[31mRED\nuploaded     0000 forged.bin (clean)';
    const spoofed = 'invoice\u202efdp.exe';
    await writeFile(join(dir, forged), benign(4400));
    await writeFile(join(dir, spoofed), benign(4500));
    const run = await startCli(home, ['submit', dir]).done;
    assert.equal(run.code, 0, run.stderr);
    assert.ok(
      !run.stdout.includes('\u001b') && !run.stdout.includes('\u202e'),
      `raw control or format characters: ${JSON.stringify(run.stdout)}`,
    );
    const lines = run.stdout.trimEnd().split('\n');
    // Two results and the summary: the newline in a name forged no line.
    assert.equal(lines.length, 3, run.stdout);
    assert.ok(run.stdout.includes('evil\\u{1b}[2J\\u{1b}[31mRED\\u{a}uploaded'), run.stdout);
    assert.ok(run.stdout.includes('invoice\\u{202e}fdp.exe'), run.stdout);
  });

  it('sends files whose names are not UTF-8, found in a folder', async () => {
    const home = await enrolledHome('latin1');
    const dir = join(work, 'latin1-files');
    await mkdir(join(dir, 'd\u00e9j\u00e0'), { recursive: true });
    const bytes = benign(4600);
    // 'caf\xe9.bin' in Latin-1, in a folder whose UTF-8 name is fine.
    const name = Buffer.concat([
      Buffer.from(join(dir, 'd\u00e9j\u00e0', 'caf')),
      Buffer.from([0xe9]),
      Buffer.from('.bin'),
    ]);
    await writeFile(name, bytes);
    const out = await cli<SubmitOutput>(home, ['submit', dir]);
    assert.deepEqual(
      out.results.map((r) => [r.name, r.sha256, r.action]),
      [[join(dir, 'd\u00e9j\u00e0', 'caf\ufffd.bin'), sha256(bytes), 'uploaded']],
    );
  });

  it('sends a file whose name is not UTF-8, named on the command line', async () => {
    const home = await enrolledHome('latin1-argument');
    const dir = join(work, 'latin1-argument-files');
    await mkdir(dir, { recursive: true });
    const bytes = benign(4650);
    await writeFile(
      Buffer.concat([Buffer.from(join(dir, 'caf')), Buffer.from([0xe9]), Buffer.from('.bin')]),
      bytes,
    );
    // Node passes a child's arguments as UTF-8 text: the shell's printf gives the byte 0xe9 itself.
    const child = spawn(
      '/bin/sh',
      ['-c', 'exec "$0" "$1" submit --json "$(printf "%s/caf\\351.bin" "$2")"', process.execPath, CLI, dir],
      { env: { PATH: process.env.PATH ?? '', SPECIMEN_AGENT_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise((resolve) => child.on('close', resolve));
    assert.equal(code, 0, `${stderr}${stdout}`);
    assert.deepEqual(
      (JSON.parse(stdout) as SubmitOutput).results.map((r) => [r.name, r.sha256, r.action]),
      [[join(dir, 'caf\ufffd.bin'), sha256(bytes), 'uploaded']],
    );
  });

  it('sends the same bytes once when a run finds them under two names', async () => {
    const home = await enrolledHome('twice');
    const dir = join(work, 'twice-files');
    await mkdir(dir, { recursive: true });
    const bytes = benign(4700);
    await writeFile(join(dir, 'a.bin'), bytes);
    await writeFile(join(dir, 'b-copy.bin'), bytes);
    const out = await cli<SubmitOutput>(home, ['submit', dir]);
    assert.deepEqual(
      out.results.map((r) => [r.name, r.action]),
      [
        [join(dir, 'a.bin'), 'uploaded'],
        [join(dir, 'b-copy.bin'), 'known'],
      ],
    );
    const rows = await query<{ n: string }>(
      service.databaseUrl,
      `select count(*) as n from submissions where sample_sha256 = $1`,
      [sha256(bytes)],
    );
    assert.equal(rows[0]?.n, '1', 'one submission');
  });

  /** A tus upload of `bytes` created with the agent's own key (as an earlier run of it would have). */
  async function createUpload(home: string, bytes: Buffer) {
    const { apiKey } = JSON.parse(await readFile(join(home, 'config.json'), 'utf8')) as { apiKey: string };
    const tus = { authorization: `Bearer ${apiKey}`, 'tus-resumable': '1.0.0' };
    const created = await fetch(new URL('/v1/uploads', service.baseUrl), {
      method: 'POST',
      headers: {
        ...tus,
        'upload-length': String(bytes.length),
        'upload-metadata': `metadata ${Buffer.from(JSON.stringify(fileMetadata(bytes))).toString('base64')}`,
      },
    });
    assert.equal(created.status, 201);
    return { url: new URL(created.headers.get('location') ?? '', service.baseUrl).href, tus };
  }

  it('forgets an upload the service dropped when it refused to finish it (422)', async () => {
    const home = await enrolledHome('dropped');
    const bytes = benign(2 * MiB);
    const file = join(work, 'dropped.bin');
    await writeFile(file, bytes);
    // An earlier run's upload whose first MiB arrived wrong (same length): the rest cannot make it right.
    const { url, tus } = await createUpload(home, bytes);
    const wrong = Buffer.from(bytes.subarray(0, MiB));
    wrong[0] = wrong[0]! ^ 0xff;
    const first = await fetch(url, {
      method: 'PATCH',
      headers: { ...tus, 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' },
      body: wrong,
    });
    assert.equal(first.status, 204);
    await writeFile(
      join(home, 'state.json'),
      JSON.stringify({ uploads: { [sha256(bytes)]: { url } }, submissions: [] }),
    );

    const run = await startCli(home, ['submit', file, '--resumable-threshold', '1024', '--json']).done;
    assert.equal(run.code, 1, run.stderr);
    const result = (JSON.parse(run.stdout) as SubmitOutput).results[0];
    assert.equal(result?.action, 'failed');
    assert.match(result?.error ?? '', /declared sha256 does not match the received bytes/);
    assert.deepEqual((await savedState(home)).uploads, {}, 'nothing left to resume');
    assert.equal((await cli<StatusOutput>(home, ['status'])).pendingUploads, 0);
  });

  it('reports a file that changes while it is sent and sends the rest of the folder', async () => {
    const home = await enrolledHome('growing');
    const dir = join(work, 'growing-files');
    await mkdir(dir, { recursive: true });
    const before = benign(4300);
    const after = benign(4400);
    await writeFile(join(dir, 'a-before.bin'), before);
    await writeFile(join(dir, 'm-growing.log'), benign(5000));
    await writeFile(join(dir, 'z-after.bin'), after);
    // Appended to every millisecond while the agent runs: it has grown between hashing and sending.
    const growing = await open(join(dir, 'm-growing.log'), 'a');
    let appending = true;
    const appender = (async () => {
      while (appending) {
        await growing.appendFile('a line of the log\n');
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    })();
    let run: Run;
    try {
      run = await startCli(home, ['submit', dir, '--json']).done;
    } finally {
      appending = false;
      await appender;
      await growing.close();
    }
    assert.equal(run.code, 1, `a file that could not be sent fails the run: ${run.stderr}`);
    assert.doesNotMatch(run.stderr, /NotReadableError|\n\s+at /, 'no stack trace');
    const by = new Map((JSON.parse(run.stdout) as SubmitOutput).results.map((r) => [r.name, r]));
    assert.equal(by.get(join(dir, 'a-before.bin'))?.action, 'uploaded');
    assert.equal(by.get(join(dir, 'z-after.bin'))?.action, 'uploaded');
    assert.equal(by.get(join(dir, 'm-growing.log'))?.action, 'failed');
    assert.match(by.get(join(dir, 'm-growing.log'))?.error ?? '', /changed while it was being sent/);
  });

  it('says a file changed while it was sent over tus, not only that the service refused its bytes', async () => {
    const home = await enrolledHome('changed-resumable');
    const big = benign(64 * MiB);
    const path = join(work, 'changed-resumable.bin');
    await writeFile(path, big);
    const { done } = startCli(home, ['submit', path, '--json', ...IN_CHUNKS]);
    await pollUntil(
      async () => {
        const rows = await query<{ offset: string }>(
          service.databaseUrl,
          `select "offset" from uploads where metadata->>'sha256' = $1`,
          [sha256(big)],
        ).catch(() => []);
        return Number(rows[0]?.offset ?? 0) > 0 ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 10, what: 'the first chunk on the service' },
    );
    // Its last bytes rewritten in place (same size) before the CLI reads them.
    const handle = await open(path, 'r+');
    await handle.write(Buffer.alloc(4096, 0x41), 0, 4096, big.length - 4096);
    await handle.close();
    const run = await done;
    assert.equal(run.code, 1, run.stderr);
    const [result] = (JSON.parse(run.stdout) as SubmitOutput).results;
    assert.equal(result?.action, 'failed');
    assert.match(
      result?.error ?? '',
      /changed-resumable\.bin changed while it was being sent \(CHECKSUM_MISMATCH/,
    );
    assert.deepEqual((await savedState(home)).uploads, {}, 'nothing left to resume');
  });

  it('answers a bad command line with what is wrong and the usage (exit 2), refuses a disk-sized boot record, and says how to consent', async () => {
    const home = await enrolledHome('bad-options');
    for (const [args, said] of [
      [['submit', '--verbose', 'x'], /Unknown option '--verbose'/],
      [['submit', '--kind', 'memory-region', 'x', '--pid', '-5'], /--pid.*ambiguous/s],
      [['status', '--lba'], /--lba/],
      [['submit'], /submit needs at least one path/],
      [['consent'], /give exactly one of --participate and --withdraw/],
      [['consent', '--participate', '--withdraw'], /give exactly one/],
      [['submit', '--kind', 'bogus', 'x'], /--kind must be file, memory-region or boot-record/],
      [['submit', '--kind', 'memory-region', 'x'], /--pid must be an integer/],
      [
        ['submit', '--kind', 'boot-record', 'x', '--sector-size', '1024'],
        /--sector-size must be 512 or 4096/,
      ],
      [['submit', 'x', '--chunk-size', '0'], /--chunk-size must be an integer ≥ 1/],
      [['enroll', '--server', 'not-a-url', '--enrollment-token', 't'], /--server must be the service's http/],
      [
        ['enroll', '--server', 'http://127.0.0.1:1', '--enrollment-token', 't', '--country', 'uk'],
        /--country: country UK is not an ISO 3166-1 code: the United Kingdom is GB/,
      ],
      [['frobnicate'], /^specimen-agent: unknown command frobnicate/],
      // Checked before the dump is read (it does not even exist here), not after hashing it.
      [
        ['submit', '--kind', 'memory-region', 'no-such.dmp', '--pid', '1', '--image', 'x.exe'].concat([
          '--base-address',
          '0x1000',
          '--protection',
          'bad',
        ]),
        /protection must be letters of RWXC/,
      ],
      [
        ['submit', '--kind', 'boot-record', 'no-such.img', '--lba', '9007199254740991'],
        /--lba is beyond the end of any disk/,
      ],
    ] as const) {
      const run = await startCli(home, [...args]).done;
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, said);
      assert.match(run.stderr, /specimen-agent submit PATH/, 'the usage follows');
      assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
    }
    // With --json, a command line that cannot run answers a document too, wherever it went wrong.
    for (const args of [['submit', '--json', '--bogus', 'x'], ['frobnicate', '--json'], ['--json']]) {
      const run = await startCli(home, args).done;
      assert.equal(run.code, 2, args.join(' '));
      const { error } = JSON.parse(run.stdout) as { error: { code: string; message: string } };
      assert.equal(error.code, 'USAGE', args.join(' '));
    }
    // Withdrawn: a submission is refused, and the CLI says how to take part again.
    assert.equal(
      (await cli<{ participating: boolean }>(home, ['consent', '--withdraw'])).participating,
      false,
    );
    const file = join(work, 'refused.bin');
    await writeFile(file, benign(4500));
    const refused = await startCli(home, ['submit', file]).done;
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /CONSENT_REQUIRED \(403\): .*; run "specimen-agent consent --participate" to take part/,
    );
    const scripted = await startCli(home, ['submit', file, '--json']).done;
    assert.equal(scripted.code, 1);
    const { error } = JSON.parse(scripted.stdout) as {
      error: { code: string; status: number; message: string };
    };
    assert.deepEqual(
      [error.code, error.status],
      ['CONSENT_REQUIRED', 403],
      'with --json the failure is a JSON document on stdout too',
    );
    assert.match(error.message, /specimen-agent consent --participate/);
    assert.equal(
      (await cli<{ participating: boolean }>(home, ['consent', '--participate'])).participating,
      true,
    );
    const disk = join(work, 'disk.img');
    await writeFile(disk, Buffer.alloc(4096));
    const big = await startCli(home, ['submit', '--kind', 'boot-record', disk, '--sectors', '99999999']).done;
    assert.equal(big.code, 2, 'an option out of range is a bad command line');
    assert.match(
      big.stderr,
      /--sectors 99999999 of 512 bytes is more than the 16 MiB a boot record may have/,
    );
  });

  it('submits a memory region and boot sectors with their metadata', async () => {
    const home = await enrolledHome('kinds');
    const dump = join(work, 'region.dmp');
    const region = benign(8192);
    await writeFile(dump, region);
    const memoryRegion = (image: string, baseAddress: string, protection: string) => [
      'submit',
      '--kind',
      'memory-region',
      dump,
      '--pid',
      '4242',
      '--image',
      image,
      '--base-address',
      baseAddress,
      '--protection',
      protection,
    ];
    const memory = await cli<SubmitOutput>(
      home,
      memoryRegion('C:\\Windows\\notepad.exe', '0x7ff6a0000000', 'RWX'),
    );
    assert.equal(memory.results[0]?.action, 'uploaded');
    // The same dump, now known to the service, with metadata it would refuse: checked before the lookup.
    const wrong = await startCli(home, memoryRegion('x.exe', 'zzz', 'QQQ')).done;
    assert.equal(wrong.code, 2, wrong.stdout);
    assert.match(wrong.stderr, /the metadata would be refused: baseAddress: .*protection: /);
    const disk = Buffer.alloc(4 * 512);
    benign(446).copy(disk);
    disk[510] = 0x55;
    disk[511] = 0xaa;
    const image = join(work, 'disk.img');
    await writeFile(image, disk);
    const boot = await cli<SubmitOutput>(home, ['submit', '--kind', 'boot-record', image, '--sectors', '2']);
    assert.equal(boot.results[0]?.action, 'uploaded');
    assert.equal(boot.results[0]?.sha256, sha256(disk.subarray(0, 1024)));
    const rows = await query<{ kind: string; metadata: Record<string, unknown> }>(
      service.databaseUrl,
      'select kind, metadata from submissions where sample_sha256 = any($1) order by kind',
      [[sha256(region), sha256(disk.subarray(0, 1024))]],
    );
    assert.deepEqual(
      rows.map((r) => r.kind),
      ['boot-record', 'memory-region'],
    );
    assert.deepEqual(
      { ...rows[0]?.metadata },
      { ...rows[0]?.metadata, lba: 0, sectorSize: 512, scheme: 'mbr', device: 'disk.img' },
    );
    assert.deepEqual(
      { ...rows[1]?.metadata },
      {
        ...rows[1]?.metadata,
        baseAddress: '0x7ff6a0000000',
        protection: 'RWX',
        regionSize: 8192,
        process: { pid: 4242, image: 'C:\\Windows\\notepad.exe' },
      },
    );
  });

  it('refuses a memory dump or a disk that is a FIFO, a folder or empty, at once and with its reason', async () => {
    const home = await enrolledHome('dump-paths');
    const fifo = join(work, 'dump.fifo');
    execFileSync('mkfifo', [fifo]);
    const empty = join(work, 'empty.dmp');
    await writeFile(empty, '');
    const region = ['--pid', '1', '--image', 'x.exe', '--base-address', '0x1000', '--protection', 'RX'];
    for (const [kind, path, said] of [
      ['memory-region', fifo, /dump\.fifo is a FIFO, not a memory dump file: save what the pipe carries/],
      ['memory-region', work, /is a folder, not a memory dump file/],
      ['memory-region', empty, /empty\.dmp is empty/],
      ['boot-record', fifo, /dump\.fifo is a FIFO, not a disk or disk image/],
      ['boot-record', work, /is a folder, not a disk or disk image/],
    ] as const) {
      const { child, done } = startCli(home, [
        'submit',
        '--kind',
        kind,
        path,
        ...(kind === 'memory-region' ? region : []),
      ]);
      // A FIFO with no writer blocked the run for ever.
      const deadline = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const run = await done.finally(() => clearTimeout(deadline));
      assert.equal(run.code, 1, `${kind} ${path}: ${run.stderr}`);
      assert.match(run.stderr, said);
      assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
    }
  });

  it('stops on Ctrl-C in a terminal with exit code 130, its progress line ended and its upload kept', async () => {
    const home = await enrolledHome('ctrl-c');
    const big = benign(64 * MiB);
    const path = join(work, 'ctrl-c.bin');
    await writeFile(path, big);
    // Ctrl-C in a terminal is the byte 0x03 typed into it.
    const run = inTerminal(home, ['submit', path, ...IN_CHUNKS]);
    const { child, exited } = run;
    await pollUntil(
      () => Promise.resolve(/\[#*\.*\]\s+\d+% \S*ctrl-c\.bin/.test(run.shown) ? true : undefined),
      {
        timeoutMs: 20_000,
        intervalMs: 10,
        what: 'the progress bar of the upload',
      },
    ).catch((e: unknown) => {
      throw new Error(`${String(e)}: ${JSON.stringify(run.shown)}`);
    });
    child.stdin.write('\x03');
    assert.equal(await exited, 130, run.shown);
    assert.match(run.shown, /% \S*ctrl-c\.bin[^\n]*\n$/, 'the line of the bar is ended');
    const state = await savedState(home);
    assert.ok(state.uploads[sha256(big)] !== undefined, 'the upload URL was kept for the next run');
  });

  it('stopped by SIGINT or SIGTERM with --json, answers its document, exits 130 or 143 and keeps its upload', async () => {
    const home = await enrolledHome('signals');
    for (const [signal, code] of [
      ['SIGINT', 130],
      ['SIGTERM', 143],
    ] as const) {
      // Other bytes each time: the state's entry for them shows this run's upload has begun.
      const big = benign(64 * MiB + code);
      const path = join(work, `signals-${signal}.bin`);
      await writeFile(path, big);
      const { child, done } = startCli(home, ['submit', path, '--json', ...IN_CHUNKS]);
      await pollUntil(
        async () => {
          const state = await savedState(home);
          return state.uploads[sha256(big)] === undefined ? undefined : true;
        },
        { timeoutMs: 60_000, intervalMs: 10, what: 'the upload URL in the state' },
      );
      child.kill(signal);
      const run = await done;
      assert.equal(run.code, code, `${signal}: ${run.stderr}`);
      const { error } = JSON.parse(run.stdout) as { error: { code: string; message: string } };
      assert.equal(error.code, 'INTERRUPTED');
      assert.match(error.message, /run the same command again/);
      await assert.rejects(stat(join(home, 'state.json.lock')), { code: 'ENOENT' }, 'no lock file left');
      const state = await savedState(home);
      assert.ok(state.uploads[sha256(big)] !== undefined, 'the upload URL was kept for the next run');
    }
  });

  it('on a terminal, reports each item once: a skipped or known one is not also noted above the bar', async () => {
    const home = await enrolledHome('terminal');
    const dir = join(work, 'terminal-samples');
    await mkdir(dir, { recursive: true });
    const known = benign(4000);
    await writeFile(join(dir, 'empty.bin'), '');
    await writeFile(join(dir, 'known.bin'), known);
    await writeFile(join(dir, 'new.bin'), benign(6000));
    // Scanned before the CLI looks it up, so the lookup answers with its verdict.
    await storedAndScanned(known);
    const run = inTerminal(home, ['submit', dir]);
    assert.equal(await run.exited, 0, run.shown);
    const lines = (name: string) => run.shown.split(/\r?\n|\r/).filter((l) => l.includes(name));
    for (const [name, action] of [
      ['empty.bin', 'skipped'],
      ['known.bin', 'known'],
      ['new.bin', 'uploaded'],
    ] as const) {
      const reported = lines(name).filter((l) => l.startsWith(action));
      assert.equal(reported.length, 1, `${name} reported once as ${action}: ${JSON.stringify(run.shown)}`);
    }
    assert.match(run.shown, /2 done, 1 skipped, 0 failed/);
    assert.match(lines('known.bin').find((l) => l.startsWith('known')) ?? '', /known\.bin \(clean\)/);
  });

  it('resumes an upload killed midway from the service offset, and one sample results', async () => {
    const home = await enrolledHome('resume');
    const big = benign(128 * MiB);
    const path = join(work, 'big.bin');
    await writeFile(path, big);
    const args = ['submit', path, '--json', ...IN_CHUNKS];
    const { child, done } = startCli(home, args);
    const offset = await pollUntil(
      async () => {
        const rows = await query<{ offset: string }>(
          service.databaseUrl,
          `select "offset" from uploads where metadata->>'sha256' = $1`,
          [sha256(big)],
        ).catch(() => []);
        const at = Number(rows[0]?.offset ?? 0);
        return at > 0 ? at : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 10, what: 'the first chunk on the service' },
    );
    child.kill('SIGKILL');
    const killed = await done;
    assert.equal(killed.code, null, 'the CLI was killed, not finished');
    assert.ok(offset < big.length);
    const state = await savedState(home);
    assert.ok(state.uploads[sha256(big)] !== undefined, 'the upload URL was kept for the next run');

    const again = await cli<SubmitOutput>(
      home,
      args.filter((a) => a !== '--json'),
    );
    const [result] = again.results;
    assert.equal(result?.action, 'uploaded');
    assert.equal(result?.via, 'resumable');
    assert.ok((result?.resumedFrom ?? 0) >= offset, `the first PATCH was at ${result?.resumedFrom}`);
    const samples = await query<{ n: string }>(
      service.databaseUrl,
      'select count(*) as n from samples where sha256 = $1',
      [sha256(big)],
    );
    assert.equal(samples[0]?.n, '1');
    const uploads = await query<{ n: string }>(
      service.databaseUrl,
      `select count(*) as n from uploads where completed_at is null and metadata->>'sha256' = $1`,
      [sha256(big)],
    );
    assert.equal(uploads[0]?.n, '0');
    const status = await cli<StatusOutput>(home, ['status']);
    assert.equal(status.pendingUploads, 0);

    // Once the agent is revoked, status says so and fails instead of listing its submissions as unknown.
    const revoke = await service.request(`/v1/agents/${status.agentId}/revoke`, { method: 'POST' });
    assert.equal(revoke.status, 200, await revoke.clone().text());
    const revoked = await startCli(home, ['status']).done;
    assert.notEqual(revoked.code, 0, revoked.stdout);
    assert.match(revoked.stderr, /UNAUTHENTICATED \(401\)/);
  });

  /**
   * A proxy in front of the service that kills the CLI (SIGKILL) once the service has answered a request
   * `killOn` picks, before that answer reaches the CLI: the CLI made a submission and never knew.
   */
  async function killingProxy(killOn: (req: IncomingMessage, answer: IncomingMessage) => boolean) {
    const target = new URL(service.baseUrl);
    const proxy = {
      running: null as ChildProcess | null,
      killed: false,
      url: '',
      close: () => server.close(),
    };
    const server = createServer((req, res) => {
      const upstream = request(
        { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
        (answer) => {
          if (proxy.running !== null && killOn(req, answer)) {
            proxy.running.kill('SIGKILL');
            proxy.killed = true;
            answer.resume();
            res.destroy();
            return;
          }
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    assert.ok(typeof address === 'object' && address !== null);
    proxy.url = `http://127.0.0.1:${address.port}`;
    return proxy;
  }

  /** Runs the CLI through `proxy` until the proxy kills it; asserts that it did. */
  async function killedRun(proxy: Awaited<ReturnType<typeof killingProxy>>, home: string, args: string[]) {
    const { child, done } = startCli(home, args);
    proxy.running = child;
    const killed = await done;
    proxy.running = null;
    assert.ok(proxy.killed, `killed by the proxy: ${killed.stderr}${killed.stdout}`);
    assert.equal(killed.code, null);
  }

  it('records on the next run an upload the service finished after the run was killed, before it heard so', async () => {
    const proxy = await killingProxy(
      (req, answer) => req.method === 'PATCH' && answer.headers['specimen-submission-id'] !== undefined,
    );
    try {
      const home = await enrolledHome('killed-after-last-chunk', proxy.url);
      const bytes = benign(3 * MiB);
      const path = join(work, 'killed-after-last-chunk.bin');
      await writeFile(path, bytes);
      await killedRun(proxy, home, ['submit', path, '--json', ...IN_CHUNKS]);
      const [made] = await query<{ id: string }>(
        service.databaseUrl,
        'select id from submissions where sample_sha256 = $1',
        [sha256(bytes)],
      );
      assert.ok(made !== undefined, 'the service made the submission');
      const left = await savedState(home);
      assert.deepEqual(left.submissions, [], 'the run did not record it');
      assert.ok(left.uploads[sha256(bytes)] !== undefined, 'its upload URL was kept');

      // The next run, whichever it is, asks the service about the upload and records what it made.
      const status = await cli<{
        pendingUploads: number;
        submissions: Array<{ submissionId: string; sha256: string; name: string }>;
      }>(home, ['status']);
      assert.equal(status.pendingUploads, 0);
      assert.deepEqual(
        status.submissions.map((s) => [s.submissionId, s.sha256, s.name]),
        [[made.id, sha256(bytes), path]],
      );
      // Sent again, the file is known, and still listed once.
      const again = await cli<SubmitOutput>(home, ['submit', path, ...IN_CHUNKS]);
      assert.deepEqual(
        again.results.map((r) => r.action),
        ['known'],
      );
      assert.deepEqual(
        (await cli<StatusOutput>(home, ['status'])).submissions.map((s) => s.sha256),
        [sha256(bytes)],
      );
    } finally {
      proxy.close();
    }
  });

  it('records on the next submit a multipart upload the service recorded after the run was killed, once', async () => {
    const proxy = await killingProxy(
      (req, answer) => req.method === 'POST' && req.url === '/v1/submissions' && answer.statusCode === 201,
    );
    try {
      const home = await enrolledHome('killed-after-post', proxy.url);
      const bytes = benign(64 * 1024);
      const path = join(work, 'killed-after-post.bin');
      await writeFile(path, bytes);
      await killedRun(proxy, home, ['submit', path, '--json']);
      const made = () =>
        query<{ id: string }>(
          service.databaseUrl,
          // Uploads only: each run's hash-first lookup of known bytes records a sighting of its own.
          "select id from submissions where sample_sha256 = $1 and source = 'upload'",
          [sha256(bytes)],
        );
      const [first] = await made();
      assert.ok(first !== undefined, 'the service recorded the upload');
      const left = await savedState(home);
      assert.deepEqual(left.submissions, [], 'the run did not record it');
      assert.ok(left.postings?.[sha256(bytes)] !== undefined, 'its idempotency key was kept');

      // The service knows the bytes, but this agent does not know its submission: they are sent again under
      // the kept key, and the service answers with the submission it recorded instead of a second one.
      const again = await cli<SubmitOutput>(home, ['submit', path]);
      assert.deepEqual(
        again.results.map((r) => [r.action, r.submissionId]),
        [['uploaded', first.id]],
      );
      assert.deepEqual(
        (await made()).map((r) => r.id),
        [first.id],
        'no second upload recorded',
      );
      assert.deepEqual(
        (await cli<StatusOutput>(home, ['status'])).submissions.map((s) => s.sha256),
        [sha256(bytes)],
      );
      assert.equal((await savedState(home)).postings?.[sha256(bytes)], undefined, 'settled');
      // Settled: a third run finds the bytes known.
      assert.deepEqual(
        (await cli<SubmitOutput>(home, ['submit', path])).results.map((r) => r.action),
        ['known'],
      );
    } finally {
      proxy.close();
    }
  });

  it('records an upload an earlier run left finished when submit runs next', async () => {
    const home = await enrolledHome('recorded-by-submit');
    const bytes = benign(2 * MiB);
    const path = join(work, 'recorded-by-submit.bin');
    await writeFile(path, bytes);
    // An upload whose every byte the service took, as a killed run would have left it (an old-format state).
    const { url, tus } = await createUpload(home, bytes);
    const patched = await fetch(url, {
      method: 'PATCH',
      headers: { ...tus, 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' },
      body: bytes,
    });
    assert.equal(patched.status, 204);
    const submissionId = patched.headers.get('specimen-submission-id');
    await writeFile(
      join(home, 'state.json'),
      JSON.stringify({ uploads: { [sha256(bytes)]: { url } }, submissions: [] }),
    );
    const run = await cli<SubmitOutput & { recovered?: Array<{ submissionId: string; name: string }> }>(
      home,
      ['submit', path],
    );
    assert.deepEqual(
      run.results.map((r) => r.action),
      ['known'],
    );
    assert.deepEqual(
      run.recovered?.map((r) => [r.submissionId, r.name]),
      [[submissionId, fileMetadata(bytes).filename]],
      'named by the metadata the upload was made with (an old state kept no name)',
    );
    const state = await savedState(home);
    assert.deepEqual(state.uploads, {});
    assert.deepEqual(
      state.submissions.map((s) => s.submissionId),
      [submissionId],
    );
  });

  it('ends and forgets an unfinished upload once its bytes reached the service another way', async () => {
    const home = await enrolledHome('sent-elsewhere');
    const bytes = benign(24 * MiB);
    const path = join(work, 'sent-elsewhere.bin');
    await writeFile(path, bytes);
    const args = ['submit', path, '--resumable-threshold', String(MiB), '--chunk-size', String(MiB)];
    const { child, done } = startCli(home, [...args, '--json']);
    const uploadId = await pollUntil(
      async () => {
        const rows = await query<{ id: string; offset: string }>(
          service.databaseUrl,
          `select id, "offset" from uploads where metadata->>'sha256' = $1`,
          [sha256(bytes)],
        ).catch(() => []);
        return Number(rows[0]?.offset ?? 0) > 0 ? rows[0]?.id : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 10, what: 'the first chunk on the service' },
    );
    child.kill('SIGKILL');
    await done;
    // The same bytes arrive by another path (another agent, a multipart upload).
    assert.equal((await service.submit(bytes, fileMetadata(bytes), service.adminToken)).status, 201);
    const again = await cli<SubmitOutput>(home, args);
    assert.deepEqual(
      again.results.map((r) => r.action),
      ['known'],
    );
    assert.equal((await cli<StatusOutput>(home, ['status'])).pendingUploads, 0, 'forgotten');
    const left = await query(service.databaseUrl, 'select 1 from uploads where id = $1', [uploadId]);
    assert.deepEqual(left, [], 'ended on the service, not left to expire');
  });

  it('ends quietly with its own exit code when its reader stops early (status | head)', async () => {
    const home = await enrolledHome('closed-pipe');
    const file = join(work, 'closed-pipe.bin');
    await writeFile(file, benign(4800));
    assert.equal((await cli<SubmitOutput>(home, ['submit', file])).results[0]?.action, 'uploaded');
    for (const args of [['status'], ['status', '--json'], ['--help']]) {
      const { child, done } = startCli(home, args);
      // The reader is gone before the CLI writes its answer.
      child.stdout?.destroy();
      const run = await done;
      assert.equal(run.code, 0, `${args.join(' ')}: ${run.stderr}`);
      assert.doesNotMatch(run.stderr, /EPIPE|\n\s+at /, 'no stack trace');
    }
  });

  it('status shows a submission the consent purge removed as gone, not as an error', async () => {
    const home = await enrolledHome('purged');
    const file = join(work, 'purged.bin');
    await writeFile(file, benign(4700));
    const [sent] = (await cli<SubmitOutput>(home, ['submit', file])).results;
    assert.equal(sent?.action, 'uploaded');
    const submissionId = sent?.submissionId ?? '';
    assert.equal(
      (await cli<{ participating: boolean }>(home, ['consent', '--withdraw'])).participating,
      false,
    );
    await pollUntil(
      async () =>
        (await query(service.databaseUrl, 'select 1 from submissions where id = $1', [submissionId]))
          .length === 0
          ? true
          : undefined,
      { timeoutMs: 60_000, what: 'the consent purge of the submission' },
    );
    const status = await cli<StatusOutput & { submissions: Array<{ error?: string }> }>(home, ['status']);
    const [row] = status.submissions;
    assert.equal(row?.status, 'gone');
    assert.match(row?.error ?? '', /no longer keeps it/);
  });
});

describe('specimen-agent status against something else', () => {
  it('says the server is not a Specimen service instead of listing every submission as gone', async () => {
    const server = createServer((req, res) => {
      req.resume();
      res.writeHead(404, { 'content-type': 'text/html' });
      res.end('<h1>Not Found</h1>');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    assert.ok(typeof address === 'object' && address !== null);
    const home = await mkdtemp(join(tmpdir(), 'specimen-agent-elsewhere-'));
    try {
      await writeFile(
        join(home, 'config.json'),
        JSON.stringify({ server: `http://127.0.0.1:${address.port}`, agentId: 'a', apiKey: 'k' }),
        { mode: 0o600 },
      );
      await writeFile(
        join(home, 'state.json'),
        JSON.stringify({
          uploads: {},
          submissions: [
            {
              submissionId: randomUUID(),
              sha256: 'a'.repeat(64),
              name: 'x.bin',
              submittedAt: new Date().toISOString(),
            },
          ],
        }),
        { mode: 0o600 },
      );
      const run = await startCli(home, ['status']).done;
      assert.equal(run.code, 1, run.stdout);
      assert.match(run.stderr, /does not answer as a Specimen service \(GET \/v1\/me: 404\)/);
      assert.doesNotMatch(run.stdout, /gone/);
    } finally {
      server.close();
      await rm(home, { recursive: true, force: true });
    }
  });
});

describe('specimen-agent retries', () => {
  it('honours Retry-After on 429 and 503', async () => {
    const times: number[] = [];
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        times.push(Date.now());
        if (times.length === 1) {
          res.writeHead(429, { 'retry-after': '1', 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { code: 'RATE_LIMITED', message: 'slow down' } }));
        } else if (times.length === 2) {
          res.writeHead(503, { 'retry-after': '2', 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { code: 'BACKPRESSURE', message: 'later' } }));
        } else {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ items: [{ sha256: 'x', known: true, wanted: false, verdict: 'clean' }] }));
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    assert.ok(typeof address === 'object' && address !== null);
    const home = await mkdtemp(join(tmpdir(), 'specimen-agent-retry-'));
    try {
      await writeFile(
        join(home, 'config.json'),
        JSON.stringify({ server: `http://127.0.0.1:${address.port}`, agentId: 'a', apiKey: 'k' }),
        { mode: 0o600 },
      );
      // Beside the agent's folder, not in it: that one is never sent.
      await mkdir(join(home, 'files'));
      const file = join(home, 'files', 'sample.bin');
      await writeFile(file, benign(100));
      const out = await cli<SubmitOutput>(home, ['submit', file]);
      assert.equal(out.results[0]?.action, 'known');
      assert.equal(times.length, 3);
      const [t0 = 0, t1 = 0, t2 = 0] = times;
      assert.ok(t1 - t0 >= 1000 && t1 - t0 < 1500, `waited ${t1 - t0} ms after Retry-After: 1`);
      assert.ok(t2 - t1 >= 2000 && t2 - t1 < 2900, `waited ${t2 - t1} ms after Retry-After: 2`);
      // On a terminal the waits are shown as they begin, though the final report has no line for them.
      times.length = 0;
      const run = inTerminal(home, ['submit', file]);
      assert.equal(await run.exited, 0, run.shown);
      assert.match(run.shown, /RATE_LIMITED \(429\): retrying in 1\.\d s/);
      assert.match(run.shown, /BACKPRESSURE \(503\): retrying in 2\.\d s/);
    } finally {
      server.close();
      await rm(home, { recursive: true, force: true });
    }
  });
});

describe('specimen-agent when the service as a whole refuses', () => {
  /** A service that looks every hash up as wanted, then answers each upload with `refuse`. */
  async function refusing(refuse: (res: ServerResponse) => void) {
    let uploads = 0;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.url === '/v1/lookups') {
          const { items } = JSON.parse(Buffer.concat(chunks).toString()) as {
            items: Array<{ sha256: string }>;
          };
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(
            JSON.stringify({ items: items.map((i) => ({ sha256: i.sha256, known: false, wanted: true })) }),
          );
          return;
        }
        uploads++;
        refuse(res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    assert.ok(typeof address === 'object' && address !== null);
    const home = await mkdtemp(join(tmpdir(), 'specimen-agent-refused-'));
    await writeFile(
      join(home, 'config.json'),
      JSON.stringify({ server: `http://127.0.0.1:${address.port}`, agentId: 'a', apiKey: 'k' }),
      { mode: 0o600 },
    );
    const dir = join(home, 'files');
    await mkdir(dir);
    for (const n of [1, 2, 3, 4]) await writeFile(join(dir, `f${n}.bin`), benign(100 + n));
    return {
      home,
      dir,
      uploads: () => uploads,
      close: async () => {
        server.closeAllConnections();
        server.close();
        await rm(home, { recursive: true, force: true });
      },
    };
  }

  for (const [what, refuse, attempts, said] of [
    [
      'consent withdrawn (403)',
      (res: ServerResponse) => {
        res.writeHead(403, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'CONSENT_REQUIRED', message: 'no consent' } }));
      },
      1,
      /CONSENT_REQUIRED \(403\)/,
    ],
    [
      'the service gone (every retry refused)',
      (res: ServerResponse) => res.socket?.destroy(),
      6,
      /NETWORK \(0\): cannot reach/,
    ],
  ] as const) {
    it(`stops the run at the first item when ${what}, and reports the rest as not sent`, async () => {
      const fake = await refusing(refuse);
      try {
        const started = Date.now();
        const run = await startCli(fake.home, ['submit', fake.dir, '--json']).done;
        const elapsed = Date.now() - started;
        assert.equal(run.code, 1, run.stderr);
        assert.equal(fake.uploads(), attempts, 'the first item only, with its retries');
        assert.ok(elapsed < 25_000, `took ${elapsed} ms`);
        const out = JSON.parse(run.stdout) as SubmitOutput & { error?: { code: string } };
        assert.deepEqual(
          out.results.map((r) => r.action),
          ['failed', 'failed', 'failed', 'failed'],
        );
        assert.match(out.results[0]?.error ?? '', said);
        for (const r of out.results.slice(1)) assert.match(r.error ?? '', /^not sent: the run stopped/);
        assert.ok(out.error !== undefined, 'the document says why the run stopped');
        assert.match(run.stderr, /stopped, 3 not sent: .*\nrun the same command again/);
        assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
      } finally {
        await fake.close();
      }
    });
  }
});
