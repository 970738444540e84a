import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AgentFiles } from './config.js';
import { StateJournal } from './state.js';

describe('AgentFiles', () => {
  let home = '';
  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'specimen-agent-files-'));
  });
  after(() => rm(home, { recursive: true, force: true }));

  it('names a damaged config or state file and what to do about it', async () => {
    const files = new AgentFiles(join(home, 'damaged'));
    await mkdir(join(home, 'damaged'));
    // An old-format state.json, not yet migrated.
    await writeFile(join(home, 'damaged', 'state.json'), '{"uploads": {');
    await writeFile(join(home, 'damaged', 'config.json'), '');
    await assert.rejects(files.state(), {
      message: new RegExp(`^${join(home, 'damaged', 'state.json')} is damaged \\(.*\\): move it aside`),
    });
    await assert.rejects(files.config(), { message: /config\.json is damaged \(.*\): enroll again/ });
    // A record in the middle of the journal (not its last line, which a crash may cut short).
    await rm(join(home, 'damaged', 'state.json'));
    await writeFile(
      join(home, 'damaged', 'state.jsonl'),
      '{"t":"drop","sha256":"a"}\n{"t":\n{"t":"drop","sha256":"b"}\n',
    );
    await assert.rejects(new AgentFiles(join(home, 'damaged')).state(), {
      message: new RegExp(
        `^${join(home, 'damaged', 'state.jsonl')} is damaged \\(line 2: .*\\): move it aside`,
      ),
    });
  });

  it('keeps every change of state made at once (as by two runs submitting in parallel)', async () => {
    // Two runs: each its own files, meeting only on disk (the lock file, the journal).
    const runs = [new AgentFiles(join(home, 'parallel')), new AgentFiles(join(home, 'parallel'))];
    const changes = Array.from({ length: 40 }, (_, i) => {
      const files = runs[i % 2] ?? assert.fail();
      return Promise.all([
        files.recordSubmission({ submissionId: `s${i}`, sha256: String(i), name: `f${i}`, submittedAt: '' }),
        files.recordUpload(`u${i}`, { url: `u${i}` }),
      ]);
    });
    await Promise.all(changes);
    for (const files of runs) {
      const state = await files.state();
      assert.equal(state.submissions.length, 40);
      assert.equal(Object.keys(state.uploads).length, 40);
    }
    await Promise.all(runs.map((files) => files.close()));
    const state = await new AgentFiles(join(home, 'parallel')).state();
    assert.equal(state.submissions.length, 40);
    assert.equal(Object.keys(state.uploads).length, 40);
    // The lock is gone, and no temporary file is left.
    assert.deepEqual((await readdir(join(home, 'parallel'))).sort(), ['state.jsonl']);
  });

  it('takes over at once a lock left by a run that is gone (killed while it held it)', async () => {
    const files = new AgentFiles(join(home, 'left-lock'));
    await files.replaceState({ uploads: {}, submissions: [] });
    // The pid of a process that has exited.
    const gone = spawnSync(process.execPath, ['-e', '0']).pid;
    assert.ok(gone !== undefined);
    await writeFile(join(home, 'left-lock', 'state.json.lock'), String(gone));
    const started = Date.now();
    await files.recordUpload('x', { url: 'u' });
    assert.ok(Date.now() - started < 2_000, `waited ${Date.now() - started} ms`);
    assert.deepEqual((await readdir(join(home, 'left-lock'))).sort(), ['state.jsonl']);
    assert.equal((await files.state()).uploads.x?.url, 'u');
    await files.close();
  });

  it("starts a new agent's state, keeping another agent's submissions aside", async () => {
    const files = new AgentFiles(join(home, 'enrolled-again'));
    // Written before states named their agent: the previous enrollment's config says whose it is.
    await files.replaceState({
      uploads: { abc: { url: 'http://s/v1/uploads/1' } },
      submissions: [{ submissionId: 's1', sha256: 'xyz', name: 'a.bin', submittedAt: '' }],
    });
    assert.equal(await files.startState('agent-1', 'agent-1'), null, 'the same agent keeps its state');
    assert.equal((await files.state()).submissions.length, 1);
    const archived = await files.startState('agent-2', 'agent-1');
    assert.equal(archived, join(home, 'enrolled-again', 'state.agent-1.jsonl'));
    assert.deepEqual(await files.state(), { agentId: 'agent-2', uploads: {}, submissions: [] });
    const kept = await new StateJournal(archived ?? '', join(home, 'none'), '').state();
    assert.deepEqual(
      [kept.agentId, kept.submissions.map((x) => x.submissionId), Object.keys(kept.uploads)],
      ['agent-1', ['s1'], ['abc']],
    );
    // A state with nothing in it is simply taken over.
    assert.equal(await files.startState('agent-3', 'agent-2'), null);
    assert.equal((await files.state()).agentId, 'agent-3');
    await files.close();
  });
});
