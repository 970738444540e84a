import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AgentFiles, type AgentState } from './config.js';

describe('AgentFiles', () => {
  let home = '';
  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'specimen-agent-files-'));
  });
  after(() => rm(home, { recursive: true, force: true }));

  it('names a damaged config or state file and what to do about it', async () => {
    const files = new AgentFiles(join(home, 'damaged'));
    await files.saveState({ uploads: {}, submissions: [] });
    await writeFile(join(home, 'damaged', 'state.json'), '{"uploads": {');
    await writeFile(join(home, 'damaged', 'config.json'), '');
    await assert.rejects(files.state(), {
      message: new RegExp(`^${join(home, 'damaged', 'state.json')} is damaged \\(.*\\): move it aside`),
    });
    await assert.rejects(files.config(), { message: /config\.json is damaged \(.*\): enroll again/ });
  });

  it('keeps every change of state made at once (as by two runs submitting in parallel)', async () => {
    const files = new AgentFiles(join(home, 'parallel'));
    const changes = Array.from({ length: 40 }, (_, i) =>
      files.updateState((state) => {
        state.submissions.push({ submissionId: `s${i}`, sha256: String(i), name: `f${i}`, submittedAt: '' });
        state.uploads[String(i)] = { url: `u${i}` };
      }),
    );
    await Promise.all(changes);
    const state = await files.state();
    assert.equal(state.submissions.length, 40);
    assert.equal(Object.keys(state.uploads).length, 40);
    // The lock is gone, and no temporary file is left.
    assert.deepEqual((await readdir(join(home, 'parallel'))).sort(), ['state.json']);
  });

  it('takes over at once a lock left by a run that is gone (killed while it held it)', async () => {
    const files = new AgentFiles(join(home, 'left-lock'));
    await files.saveState({ uploads: {}, submissions: [] });
    // The pid of a process that has exited.
    const gone = spawnSync(process.execPath, ['-e', '0']).pid;
    assert.ok(gone !== undefined);
    await writeFile(join(home, 'left-lock', 'state.json.lock'), String(gone));
    const started = Date.now();
    await files.updateState((state) => {
      state.uploads.x = { url: 'u' };
    });
    assert.ok(Date.now() - started < 2_000, `waited ${Date.now() - started} ms`);
    assert.deepEqual((await readdir(join(home, 'left-lock'))).sort(), ['state.json']);
    assert.equal((await files.state()).uploads.x?.url, 'u');
  });

  it("starts a new agent's state, keeping another agent's submissions aside", async () => {
    const files = new AgentFiles(join(home, 'enrolled-again'));
    // Written before states named their agent: the previous enrollment's config says whose it is.
    await files.saveState({
      uploads: { abc: { url: 'http://s/v1/uploads/1' } },
      submissions: [{ submissionId: 's1', sha256: 'abc', name: 'a.bin', submittedAt: '' }],
    });
    assert.equal(await files.startState('agent-1', 'agent-1'), null, 'the same agent keeps its state');
    assert.equal((await files.state()).submissions.length, 1);
    const archived = await files.startState('agent-2', 'agent-1');
    assert.equal(archived, join(home, 'enrolled-again', 'state.agent-1.json'));
    assert.deepEqual(await files.state(), { agentId: 'agent-2', uploads: {}, submissions: [] });
    const kept = JSON.parse(await readFile(archived, 'utf8')) as AgentState;
    assert.deepEqual(
      [kept.agentId, kept.submissions.map((x) => x.submissionId), Object.keys(kept.uploads)],
      ['agent-1', ['s1'], ['abc']],
    );
    // A state with nothing in it is simply taken over.
    assert.equal(await files.startState('agent-3', 'agent-2'), null);
    assert.equal((await files.state()).agentId, 'agent-3');
  });
});
