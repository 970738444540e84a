import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { dropDatabase, recordSample } from '#test-support';
import { Database } from '../database.js';
import { RulesetsRepository } from './rulesets.repository.js';
import { SamplesRepository } from './samples.repository.js';
import { type RecordScanInput, ScansRepository } from './scans.repository.js';

const url = `postgres://postgres@127.0.0.1:5432/specimen_scantest_${randomBytes(5).toString('hex')}`;

describe('ScansRepository.recordMany and SamplesRepository.findManyBySha256', () => {
  let database: Database;
  let scans: ScansRepository;
  let samples: SamplesRepository;
  let active: string;
  let old: string;

  before(async () => {
    database = await Database.connect({ url, poolMax: 4 });
    scans = new ScansRepository(database);
    samples = new SamplesRepository(database);
    const rulesets = new RulesetsRepository(database);
    const create = () =>
      database.transaction((tx) =>
        rulesets.create(
          {
            name: 'batch',
            source: 'rule R { condition: true }',
            ruleCount: 1,
            diagnostics: [],
            quarantined: [],
            createdBy: null,
          },
          tx,
        ),
      );
    old = (await create()).id;
    active = (await create()).id;
    await database.transaction((tx) => rulesets.activate(active, null, tx));
  });

  after(async () => {
    await database.close();
    await dropDatabase(url);
  });

  const newSample = (): Promise<string> => recordSample(database);

  const input = (sha256: string, rulesetId: string, verdict: 'clean' | 'malicious', rules: string[] = []) =>
    ({
      sha256,
      rulesetId,
      status: 'scanned',
      verdict,
      startedAt: new Date(),
      durationMs: 1.4,
      matches: rules.map((rule) => ({
        rule,
        namespace: 'batch',
        tags: ['t'],
        meta: { score: 90 },
        strings: [],
        noisy: false,
      })),
      analysis: { version: 1, fileType: { type: 'pe', format: 'PE32' }, durationMs: 0.1 },
    }) satisfies RecordScanInput;

  it('records a batch: one scan per input with its matches, each sample with its verdict and file type', async () => {
    const a = await newSample();
    const b = await newSample();
    const ids = await scans.recordMany([
      input(a, active, 'malicious', ['R1', 'R2']),
      input(b, active, 'clean'),
    ]);
    assert.equal(ids.length, 2);
    const [rowA, rowB] = await samples.findManyBySha256([a, b]);
    assert.equal(rowA?.verdict, 'malicious');
    assert.equal(rowA?.latestScanId, ids[0]);
    assert.equal(rowA?.scanStatus, 'scanned');
    assert.equal(rowA?.fileType, 'pe');
    assert.equal(rowB?.verdict, 'clean');
    assert.equal(rowB?.latestScanId, ids[1]);
    const { rows } = await database.db.execute<{ scan_id: string; n: string }>(
      `select scan_id, count(*) as n from matches where scan_id in ('${ids[0]}', '${ids[1]}') group by scan_id`,
    );
    assert.deepEqual(
      rows.map((r) => [r.scan_id, Number(r.n)]),
      [[ids[0], 2]],
    );
  });

  it('applies scans of the same sample in order, as separate records would', async () => {
    const a = await newSample();
    const ids = await scans.recordMany([input(a, active, 'clean'), input(a, active, 'malicious')]);
    const [row] = await samples.findManyBySha256([a]);
    assert.equal(row?.verdict, 'malicious');
    assert.equal(row?.latestScanId, ids[1]);
  });

  it('keeps the verdict of the active ruleset against a late scan under an older one, within a batch', async () => {
    const a = await newSample();
    const b = await newSample();
    await scans.recordMany([input(a, active, 'malicious')]);
    // b has no verdict yet: any scan sets it; a's verdict from the active version stays.
    await scans.recordMany([input(a, old, 'clean'), input(b, old, 'clean')]);
    const [rowA, rowB] = await samples.findManyBySha256([a, b]);
    assert.equal(rowA?.verdict, 'malicious');
    assert.equal(rowB?.verdict, 'clean');
  });

  it('keeps the verdict of a finished scan when a later scan times out; a sample without one gets none', async () => {
    const a = await newSample();
    const b = await newSample();
    const [first] = await scans.recordMany([input(a, active, 'malicious', ['Evil'])]);
    const timedOut = (sha256: string): RecordScanInput => ({
      ...input(sha256, active, 'clean'),
      status: 'timeout',
      verdict: null,
    });
    const [, timeoutOfB] = await scans.recordMany([timedOut(a), timedOut(b)]);
    const [rowA, rowB] = await samples.findManyBySha256([a, b]);
    assert.equal(rowA?.scanStatus, 'timeout');
    assert.equal(rowA?.verdict, 'malicious');
    assert.equal(rowA?.latestScanId, first);
    const { rows } = await database.db.execute<{ match_rules: string[] }>(
      `select match_rules from samples where sha256 = '${a}'`,
    );
    assert.deepEqual(rows[0]?.match_rules, ['Evil']);
    assert.equal(rowB?.scanStatus, 'timeout');
    assert.equal(rowB?.verdict, null);
    assert.equal(rowB?.latestScanId, timeoutOfB);
    // The next scan that finishes sets the verdict again, as usual.
    const [later] = await scans.recordMany([input(a, active, 'clean')]);
    const [again] = await samples.findManyBySha256([a]);
    assert.equal(again?.verdict, 'clean');
    assert.equal(again?.scanStatus, 'scanned');
    assert.equal(again?.latestScanId, later);
  });

  it('keeps the rule and tag copies the trigger keeps for other writers', async () => {
    const a = await newSample();
    const b = await newSample();
    const c = await newSample();
    const withTags = (sha256: string, matches: Array<[string, string[]]>): RecordScanInput => ({
      ...input(sha256, active, 'malicious'),
      matches: matches.map(([rule, tags]) => ({
        rule,
        namespace: 'batch',
        tags,
        meta: {},
        strings: [],
        noisy: false,
      })),
    });
    const copies = async (sha256: string) => {
      const { rows } = await database.db.execute<{ match_rules: string[]; match_tags: string[] }>(
        `select match_rules, match_tags from samples where sha256 = '${sha256}'`,
      );
      return rows[0];
    };
    // b twice: its later scan (no match) applies in a second statement and empties its copies.
    const ids = await scans.recordMany([
      withTags(a, [
        ['R2', ['y', 'x']],
        ['R1', []],
        ['R2', ['x']],
      ]),
      withTags(b, [['R3', ['z']]]),
      input(c, active, 'clean'),
      input(b, active, 'clean'),
    ]);
    assert.deepEqual(await copies(a), { match_rules: ['R1', 'R2'], match_tags: ['x', 'y'] });
    assert.deepEqual(await copies(b), { match_rules: [], match_tags: [] });
    assert.deepEqual(await copies(c), { match_rules: [], match_tags: [] });
    // Another writer (not the recorder) pointing a sample at a scan gets the copies from the trigger.
    await database.db.execute(`update samples set latest_scan_id = '${ids[1]}' where sha256 = '${b}'`);
    assert.deepEqual(await copies(b), { match_rules: ['R3'], match_tags: ['z'] });
  });

  it('writes nothing of a batch in which one scan cannot be recorded', async () => {
    const a = await newSample();
    const missing = randomBytes(32).toString('hex');
    await assert.rejects(scans.recordMany([input(a, active, 'malicious'), input(missing, active, 'clean')]));
    const [row] = await samples.findManyBySha256([a]);
    assert.equal(row?.scanStatus, 'pending');
  });

  it('finds many samples in one query, in the order asked, null for unknown ones', async () => {
    const a = await newSample();
    const b = await newSample();
    const unknown = randomBytes(32).toString('hex');
    const rows = await samples.findManyBySha256([b, unknown, a, b]);
    assert.deepEqual(
      rows.map((r) => r?.sha256 ?? null),
      [b, null, a, b],
    );
    assert.deepEqual(await samples.findManyBySha256([]), []);
  });
});
