import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { dropDatabase, recordSample } from '#test-support';
import { Database } from '../database.js';
import { RulesetsRepository } from './rulesets.repository.js';
import { ScansRepository } from './scans.repository.js';

const url = `postgres://postgres@127.0.0.1:5432/specimen_rstest_${randomBytes(5).toString('hex')}`;

describe('RulesetsRepository', () => {
  let database: Database;
  let rulesets: RulesetsRepository;

  before(async () => {
    database = await Database.connect({ url, poolMax: 8 });
    rulesets = new RulesetsRepository(database);
  });

  after(async () => {
    await database.close();
    await dropDatabase(url);
  });

  const create = (name: string, source = 'rule R { condition: true }') =>
    database.transaction((tx) =>
      rulesets.create({ name, source, ruleCount: 1, diagnostics: [], quarantined: [], createdBy: null }, tx),
    );
  const activate = (id: string) => database.transaction((tx) => rulesets.activate(id, null, tx));

  it('numbers versions per name, also when created at once', async () => {
    const made = await Promise.all(Array.from({ length: 6 }, () => create('same')));
    assert.deepEqual(made.map((r) => r.version).sort(), [1, 2, 3, 4, 5, 6]);
    assert.equal((await create('other')).version, 1);
    assert.ok(made.every((r) => r.status === 'staging'));
  });

  it('keeps one active version: activating disables the previous one', async () => {
    const a = await create('flip');
    const b = await create('flip');
    assert.deepEqual(await activate(a.id), { previous: null });
    assert.deepEqual(await activate(b.id), { previous: a.id });
    assert.deepEqual(await activate(b.id), { previous: b.id });
    assert.equal(await activate('00000000-0000-4000-8000-000000000000'), undefined);
    assert.equal((await rulesets.findDetail(a.id))?.status, 'disabled');
    assert.equal((await rulesets.findActive())?.id, b.id);
    // Concurrent activations serialise: still exactly one active afterwards.
    await Promise.all([activate(a.id), activate(b.id), activate(a.id)]);
    const active = (await rulesets.list(100)).filter((r) => r.status === 'active');
    assert.equal(active.length, 1);
  });

  it('stores rule states, last write wins', async () => {
    const r = await create('states');
    for (const state of ['noisy', 'disabled'] as const) {
      await database.transaction((tx) =>
        rulesets.setRuleState({ rulesetId: r.id, rule: 'R', state, updatedBy: null }, tx),
      );
    }
    assert.deepEqual(await rulesets.ruleStates(r.id), { R: 'disabled' });
  });

  it('does not let a scan under an older version overwrite the verdict of the active one', async () => {
    const old = await create('verdicts');
    const current = await create('verdicts');
    await activate(current.id);
    const sha256 = await recordSample(database);
    const scans = new ScansRepository(database);
    const scan = (rulesetId: string, verdict: 'clean' | 'malicious') =>
      scans.record({
        sha256,
        rulesetId,
        status: 'scanned',
        verdict,
        startedAt: new Date(),
        durationMs: 1,
        matches: [],
      });
    await scan(old.id, 'clean');
    const verdictOf = async () =>
      (
        await database.db.execute<{ verdict: string }>(
          `select verdict from samples where sha256 = '${sha256}'`,
        )
      ).rows[0]?.verdict;
    assert.equal(await verdictOf(), 'clean', 'no verdict yet: any scan sets it');
    await scan(current.id, 'malicious');
    assert.equal(await verdictOf(), 'malicious');
    await scan(old.id, 'clean');
    assert.equal(await verdictOf(), 'malicious', 'the late scan under the old version is kept, not applied');
  });
});
