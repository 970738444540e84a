import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '#config';
import type { RuleState, RulesetRecord, RulesetsRepository } from '#database';
import { SpecimenMetrics } from '#observability';
import { RulesService } from './rules.service.js';

const record = (version: number, marker: string): RulesetRecord => {
  const source = `rule Marker { meta: score = ${version} strings: $m = "${marker}" condition: $m }`;
  return {
    id: `00000000-0000-4000-8000-00000000000${version}`,
    name: 'unit',
    version,
    source,
    sourceSha256: createHash('sha256').update(source).digest('hex'),
    ruleCount: 1,
  };
};

/** The queries RulesService makes, answered from memory; `now` is the database's clock. */
class FakeRulesets {
  active: RulesetRecord = record(1, 'ONE');
  states: Record<string, RuleState> = {};
  now = Date.parse('2026-11-30T12:00:00.000Z');
  /** Versions whose text was read (findById): a load that only re-reads states reads none. */
  textReads = 0;
  activeId(): Promise<{ id: string; at: Date }> {
    return Promise.resolve({ id: this.active.id, at: new Date(this.now) });
  }
  findById(id: string): Promise<RulesetRecord | null> {
    this.textReads += 1;
    return Promise.resolve(id === this.active.id ? this.active : null);
  }
  ruleStates(): Promise<Record<string, RuleState>> {
    return Promise.resolve(this.states);
  }
}

describe('RulesService', () => {
  let cacheDir = '';
  before(async () => {
    cacheDir = await mkdtemp(join(tmpdir(), 'specimen-rules-unit-'));
  });
  after(async () => {
    await rm(cacheDir, { recursive: true, force: true });
  });

  const service = (repository: FakeRulesets) =>
    new RulesService(
      loadConfig({ RULES_CACHE_DIR: cacheDir }),
      repository as unknown as RulesetsRepository,
      new SpecimenMetrics('scanner'),
    );

  it('makes a scan that starts during the first load wait for it (workers start beside the load)', async () => {
    const repository = new FakeRulesets();
    repository.active = record(3, 'THREE');
    const rules = service(repository);
    const boot = rules.onApplicationBootstrap();
    try {
      // Asked at once, as a scan worker started by the same bootstrap would: no "no active ruleset".
      const lease = await rules.acquire();
      assert.equal(lease.ruleset.version, 3);
      lease.release();
    } finally {
      await boot;
      await rules.onApplicationShutdown();
    }
  });

  it('lets a scan holding the old rules finish after a swap, then frees them', async () => {
    const repository = new FakeRulesets();
    const rules = service(repository);
    await rules.refresh();
    const old = await rules.acquire();
    assert.equal(old.ruleset.version, 1);

    repository.active = record(2, 'TWO');
    await rules.refresh();
    const fresh = await rules.acquire();
    assert.equal(fresh.ruleset.version, 2);

    // The old lease still scans with version 1.
    const result = await old.ruleset.rules.scanBuffer(Buffer.from('xx ONE xx'));
    assert.deepEqual(
      result.matches.map((m) => m.meta.score),
      [1],
    );
    old.release();
    old.release(); // a second release is harmless
    await assert.rejects(old.ruleset.rules.scanBuffer(Buffer.from('ONE')), {
      code: 'YARA_ERROR_RULES_DESTROYED',
    });
    const still = await fresh.ruleset.rules.scanBuffer(Buffer.from('TWO'));
    assert.equal(still.matches.length, 1);
    fresh.release();
  });

  it('reloads rule states without recompiling, and caches compiled rules on disk', async () => {
    const repository = new FakeRulesets();
    const rules = service(repository);
    await rules.refresh();
    const before = await rules.acquire();
    repository.states = { Marker: 'noisy', Other: 'enabled' };
    await rules.refresh();
    const after = await rules.acquire();
    assert.equal(after.ruleset.rules, before.ruleset.rules);
    assert.equal(repository.textReads, 1, 'the text is read once, not again for the states');
    assert.deepEqual([...after.ruleset.states], [['Marker', 'noisy']]);
    before.release();
    after.release();

    const cached = (await readdir(cacheDir)).find(
      (f) => f.startsWith(record(1, 'ONE').sourceSha256) && f.endsWith('.rules'),
    );
    assert.ok(cached !== undefined);
    const file = await stat(join(cacheDir, cached));
    // A new process loads them from there: compiling would have written (renamed) a new file.
    const second = service(new FakeRulesets());
    await second.refresh();
    const lease = await second.acquire();
    assert.equal((await lease.ruleset.rules.scanBuffer(Buffer.from('ONE'))).matches.length, 1);
    lease.release();
    assert.equal((await stat(join(cacheDir, cached))).ino, file.ino);
  });

  it('reads rules and states again for a job queued after a change it has not read (its message lost)', async () => {
    const repository = new FakeRulesets();
    const rules = service(repository);
    await rules.refresh();
    const take = async (rulesAsOf?: string) => {
      const lease = await rules.acquire(rulesAsOf);
      lease.release();
      return lease.ruleset;
    };
    // A rule disabled and a new version activated, committed a second after this process read them; no
    // announcement reaches it.
    repository.now += 1_000;
    repository.states = { Marker: 'disabled' };
    const changedAt = new Date(repository.now).toISOString();
    repository.now += 1;
    // A job without a bound, or bound to an instant this process had read past, scans with what it has.
    assert.deepEqual([...(await take()).states], []);
    assert.deepEqual([...(await take(new Date(repository.now - 2_000).toISOString())).states], []);
    // A retro-scan's job, queued after the change: the states are read first.
    const fresh = await take(changedAt);
    assert.deepEqual([...fresh.states], [['Marker', 'disabled']]);
    assert.equal(fresh.readAt.toISOString(), new Date(repository.now).toISOString());

    repository.active = record(2, 'TWO');
    repository.states = {};
    repository.now += 1_000;
    const activatedAt = new Date(repository.now).toISOString();
    repository.now += 1;
    assert.equal((await take(activatedAt)).version, 2);
    // Read since: the next jobs of the same retro-scan read nothing more.
    repository.states = { Marker: 'noisy' };
    assert.deepEqual([...(await take(activatedAt)).states], []);
  });
});
