import assert from 'node:assert/strict';
import { appendFile, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AgentFiles } from './config.js';
import { COMPACT_MIN_BYTES, type SubmissionRecord } from './state.js';

const submission = (i: number): SubmissionRecord => ({
  submissionId: `0000000${i}-0000-4000-8000-000000000000`.slice(-36),
  sha256: i.toString(16).padStart(64, '0'),
  name: `/samples/sample-${i}.bin`,
  submittedAt: '2026-01-01T00:00:00.000Z',
});

const lines = async (path: string) => (await readFile(path, 'utf8')).split('\n').filter((l) => l !== '');

describe('the agent state journal (state.jsonl)', () => {
  let root = '';
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'specimen-agent-state-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  it('appends one line a change, whatever the state holds, and replays them', async () => {
    const home = join(root, 'replay');
    const files = new AgentFiles(home);
    await files.recordUpload('a'.repeat(64), { url: 'http://s/v1/uploads/1', name: 'big.bin' });
    const journal = join(home, 'state.jsonl');
    const { ino } = await stat(journal);
    let size = (await stat(journal)).size;
    for (let i = 0; i < 500; i++) {
      await files.recordSubmission(submission(i));
      const now = await stat(journal);
      // Appended in place: the file is never rewritten, and grows by the one record.
      assert.equal(now.ino, ino);
      assert.equal(now.size - size, JSON.stringify({ t: 'submitted', ...submission(i) }).length + 1);
      size = now.size;
    }
    await files.recordSubmission({ ...submission(500), sha256: 'a'.repeat(64), name: 'big.bin' });
    await files.dropUpload('b'.repeat(64));
    const replayed = await new AgentFiles(home).state();
    assert.equal(replayed.submissions.length, 501);
    assert.deepEqual(replayed.submissions[7], submission(7));
    assert.deepEqual(replayed.uploads, {}, 'a submission ends the upload of its bytes');
    assert.deepEqual(await files.state(), replayed);
    await files.close();
  });

  it("keeps a multipart upload's idempotency key until its submission is recorded or it is dropped", async () => {
    const home = join(root, 'postings');
    const files = new AgentFiles(home);
    const [a, b] = ['a'.repeat(64), 'b'.repeat(64)];
    await files.recordPosting(a, { key: 'key-a', name: 'a.bin' });
    await files.recordPosting(b, { key: 'key-b', name: 'b.bin' });
    // A second attempt with the same key (the first went unanswered) is one posting.
    await files.recordPosting(a, { key: 'key-a', name: 'a.bin' });
    const again = new AgentFiles(home);
    assert.deepEqual(await again.posting(a), { key: 'key-a', name: 'a.bin' });
    assert.deepEqual((await again.state()).postings, {
      [a]: { key: 'key-a', name: 'a.bin' },
      [b]: { key: 'key-b', name: 'b.bin' },
    });
    await files.recordSubmission({ ...submission(1), sha256: a, name: 'a.bin' });
    await files.dropUpload(b);
    assert.equal(await again.posting(a), undefined, 'settled by its submission');
    assert.equal(await again.posting(b), undefined, 'dropped');
    // Still unsettled after a compaction: kept in it.
    await files.recordPosting(b, { key: 'key-b2', name: 'b.bin' });
    await files.replaceState(await files.state());
    assert.deepEqual(await new AgentFiles(home).posting(b), { key: 'key-b2', name: 'b.bin' });
    await Promise.all([files.close(), again.close()]);
  });

  it('reads what another run appended since (and the whole journal again after it compacted it)', async () => {
    const home = join(root, 'two-runs');
    const [one, two] = [new AgentFiles(home), new AgentFiles(home)];
    await one.recordSubmission(submission(1));
    assert.equal((await two.state()).submissions.length, 1);
    await two.recordUpload('c'.repeat(64), { url: 'http://s/v1/uploads/2' });
    await two.recordSubmission(submission(2));
    assert.deepEqual(await one.upload('c'.repeat(64)), { url: 'http://s/v1/uploads/2' });
    // The same submission recorded by both runs (both saw the upload finished) is kept once.
    await one.recordSubmission(submission(2));
    assert.deepEqual(
      (await two.state()).submissions.map((s) => s.submissionId),
      [submission(1).submissionId, submission(2).submissionId],
    );
    await two.dropUpload('c'.repeat(64));
    await two.close();
    assert.equal((await lines(join(home, 'state.jsonl'))).length, 2, 'compacted by the second run');
    await one.recordSubmission(submission(3));
    await one.close();
    const state = await new AgentFiles(home).state();
    assert.deepEqual(
      state.submissions.map((s) => s.submissionId),
      [1, 2, 3].map((i) => submission(i).submissionId),
    );
    assert.deepEqual(state.uploads, {});
  });

  it('leaves out a last line a crash cut short, says so, and cuts it off before the next record', async () => {
    const home = join(root, 'torn');
    const files = new AgentFiles(home);
    await files.recordSubmission(submission(1));
    await files.recordUpload('d'.repeat(64), { url: 'http://s/v1/uploads/3', name: 'd.bin' });
    await files.close();
    const journal = join(home, 'state.jsonl');
    // Killed (or powered off) while the next record was written: part of it reached the file.
    const cut = JSON.stringify({ t: 'submitted', ...submission(2) }).slice(0, 60);
    await appendFile(journal, cut);

    const after = new AgentFiles(home);
    const read = await after.state();
    assert.deepEqual(
      read.submissions.map((s) => s.submissionId),
      [submission(1).submissionId],
    );
    assert.deepEqual(read.uploads, { ['d'.repeat(64)]: { url: 'http://s/v1/uploads/3', name: 'd.bin' } });
    assert.deepEqual(after.notices, [], 'reading alone changes nothing (the line may be one being written)');
    assert.ok((await readFile(journal, 'utf8')).endsWith(cut));

    await after.recordSubmission(submission(3));
    assert.equal(after.notices.length, 1);
    assert.match(after.notices[0] ?? '', /state\.jsonl: left out its last record, cut short \(60 bytes/);
    const text = await readFile(journal, 'utf8');
    assert.ok(!text.includes(cut), 'the cut record is gone, not glued to the next one');
    const again = await new AgentFiles(home).state();
    assert.deepEqual(
      again.submissions.map((s) => s.submissionId),
      [submission(1).submissionId, submission(3).submissionId],
    );
    await after.close();
  });

  it('compacts once dead records pass 64 KiB and the live ones, and at the end of a run', async () => {
    const home = join(root, 'compact');
    const files = new AgentFiles(home);
    const journal = join(home, 'state.jsonl');
    await files.recordSubmission(submission(1));
    // Uploads that finished elsewhere: each leaves an upload and a drop record, both dead.
    let compacted = false;
    let before = (await stat(journal)).ino;
    for (let i = 0; i < 2000 && !compacted; i++) {
      const sha256 = i.toString(16).padStart(64, 'e');
      await files.recordUpload(sha256, { url: `http://s/v1/uploads/${sha256}`, name: `f${i}.bin` });
      await files.dropUpload(sha256);
      compacted = (await stat(journal)).ino !== before;
    }
    assert.ok(compacted, 'compacted during the run');
    assert.ok((await stat(journal)).size < COMPACT_MIN_BYTES + 1024);
    assert.deepEqual(
      (await files.state()).submissions.map((s) => s.submissionId),
      [submission(1).submissionId],
    );

    // At the end of a run: a quarter or more of the journal dead.
    before = (await stat(journal)).ino;
    await files.recordUpload('f'.repeat(64), { url: 'http://s/v1/uploads/f', name: 'f.bin' });
    await files.recordSubmission({ ...submission(2), sha256: 'f'.repeat(64) });
    await files.close();
    assert.notEqual((await stat(journal)).ino, before);
    const records = (await lines(journal)).map((l) => JSON.parse(l) as { t: string; submissionId?: string });
    assert.deepEqual(
      records.map((r) => [r.t, r.submissionId]),
      [
        ['submitted', submission(1).submissionId],
        ['submitted', submission(2).submissionId],
      ],
    );
    assert.deepEqual((await readdir(home)).sort(), ['state.jsonl'], 'no temporary file or lock left');
    assert.equal((await stat(journal)).mode & 0o777, 0o600);

    // Only a few dead bytes among many live ones: left as they are.
    for (let i = 3; i < 100; i++) await files.recordSubmission(submission(i));
    await files.recordUpload('9'.repeat(64), { url: 'http://s/v1/uploads/9' });
    await files.dropUpload('9'.repeat(64));
    before = (await stat(journal)).ino;
    await files.close();
    assert.equal((await stat(journal)).ino, before);
  });

  it('migrates an old state.json once, on the first change, and reads it until then', async () => {
    const home = join(root, 'migrate');
    await mkdir(home);
    const old = {
      agentId: 'agent-1',
      uploads: { ['a'.repeat(64)]: { url: 'http://s/v1/uploads/1' } },
      submissions: [submission(1), submission(2)],
    };
    await writeFile(join(home, 'state.json'), JSON.stringify(old, null, 2), { mode: 0o600 });
    const files = new AgentFiles(home);
    assert.deepEqual(await files.state(), old);
    assert.deepEqual(await files.upload('a'.repeat(64)), { url: 'http://s/v1/uploads/1' });
    assert.deepEqual((await readdir(home)).sort(), ['state.json'], 'reading migrates nothing');

    await files.recordSubmission(submission(3));
    await files.close();
    assert.deepEqual((await readdir(home)).sort(), ['state.jsonl'], 'migrated, and the old file gone');
    const migrated = await new AgentFiles(home).state();
    assert.deepEqual(migrated, { ...old, submissions: [submission(1), submission(2), submission(3)] });

    // Both files: a migration stopped after the journal was renamed in and before state.json was removed,
    // or an earlier version run since. The journal stands, with what only the old file has added.
    const again = {
      uploads: { ['b'.repeat(64)]: { url: 'http://s/v1/uploads/2' } },
      submissions: [submission(1), submission(4)],
    };
    await writeFile(join(home, 'state.json'), JSON.stringify(again));
    const last = new AgentFiles(home);
    await last.prepare();
    await last.close();
    assert.deepEqual((await readdir(home)).sort(), ['state.jsonl']);
    const merged = await new AgentFiles(home).state();
    assert.deepEqual(
      merged.submissions.map((s) => s.submissionId),
      [1, 2, 3, 4].map((i) => submission(i).submissionId),
    );
    assert.deepEqual(Object.keys(merged.uploads).sort(), ['a'.repeat(64), 'b'.repeat(64)]);
  });
});
