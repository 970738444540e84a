import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Job } from 'bullmq';
import { loadConfig } from '#config';
import type { RecordScanInput, SamplesRepository, ScanTarget, ScansRepository } from '#database';
import { SpecimenMetrics } from '#observability';
import type { ObjectStore } from '#storage';
import { SCAN_EXTERNALS } from '#contracts';
import { type ScanResult, type YaraRules, compileRules } from '#yara';
import type { RulesService } from './rules.service.js';
import { ScanProcessor } from './scan.processor.js';

const KiB = 1024;

/** Scans that take `ms` each and count how many run at once, in all and of samples above 64 KiB. */
function slowRules(ms: number) {
  const seen = { running: 0, large: 0, maxRunning: 0, maxLarge: 0 };
  const scan = async (large: boolean): Promise<ScanResult> => {
    seen.running++;
    if (large) seen.large++;
    seen.maxRunning = Math.max(seen.maxRunning, seen.running);
    seen.maxLarge = Math.max(seen.maxLarge, seen.large);
    await new Promise((r) => setTimeout(r, ms));
    seen.running--;
    if (large) seen.large--;
    return { matches: [], timedOut: false, durationMs: ms };
  };
  const rules = {
    scanBuffer: () => scan(false),
    scanFile: () => scan(true),
  } as unknown as YaraRules;
  return { rules, seen };
}

describe('ScanProcessor', () => {
  let dir = '';
  const targets = new Map<string, ScanTarget>();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'scan-processor-'));
    for (const [name, size] of [
      ['small-1', 4 * KiB],
      ['small-2', 4 * KiB],
      ['small-3', 4 * KiB],
      ['large-1', 200 * KiB],
      ['large-2', 200 * KiB],
      ['large-3', 200 * KiB],
    ] as const) {
      await writeFile(join(dir, name), Buffer.alloc(size, 0x41));
      targets.set(name.padEnd(64, '0'), {
        sha256: name.padEnd(64, '0'),
        kind: 'file',
        size,
        objectKey: name,
      });
    }
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  function processor(env: Record<string, string>, rules: YaraRules) {
    const recorded: RecordScanInput[] = [];
    const samples = {
      scanTargets: (sha256s: string[]) => Promise.resolve(sha256s.map((s) => targets.get(s) ?? null)),
      latestMetadata: () => Promise.resolve(null),
    } as unknown as SamplesRepository;
    const scans = {
      recordMany: (inputs: RecordScanInput[]) => {
        recorded.push(...inputs);
        return Promise.resolve(inputs.map((_, i) => `scan-${recorded.length + i}`));
      },
      recordFailure: () => Promise.resolve(),
    } as unknown as ScansRepository;
    const store = { localPath: (key: string) => join(dir, key) } as unknown as ObjectStore;
    const ruleset = { id: 'r1', name: 'test', version: 1, rules, states: new Map() };
    const rulesService = {
      acquire: () => Promise.resolve({ ruleset, release: () => undefined }),
    } as unknown as RulesService;
    const config = loadConfig({ ...env, SPECIMEN_ADMIN_TOKEN: 'x'.repeat(32) });
    const scanProcessor = new ScanProcessor(
      config,
      store,
      samples,
      scans,
      rulesService,
      new SpecimenMetrics('scanner'),
    );
    const job = { attemptsMade: 0, opts: { attempts: 1 } } as unknown as Job;
    const run = (name: string) => scanProcessor.handle({ sha256: name.padEnd(64, '0') }, job);
    return { run, recorded };
  }

  it('hands the pool SCAN_PREFETCH scans of samples in memory beyond SCAN_CONCURRENCY, never of larger files', async () => {
    const { rules, seen } = slowRules(40);
    const { run, recorded } = processor(
      { SCAN_CONCURRENCY: '1', SCANNER_THREADS: '1', SCAN_PREFETCH: '1' },
      rules,
    );
    await Promise.all(['large-1', 'large-2', 'large-3', 'small-1', 'small-2', 'small-3'].map(run));
    assert.equal(recorded.length, 6);
    assert.equal(seen.maxRunning, 2, 'one scan beside the one running');
    assert.equal(seen.maxLarge, 1, 'a sample read from its file never waits in the pool behind another');
  });

  it('hands over one scan at a time with SCAN_PREFETCH=0', async () => {
    const { rules, seen } = slowRules(20);
    const { run } = processor({ SCAN_CONCURRENCY: '1', SCANNER_THREADS: '1', SCAN_PREFETCH: '0' }, rules);
    await Promise.all(['small-1', 'small-2', 'small-3', 'large-1'].map(run));
    assert.equal(seen.maxRunning, 1);
  });

  it('records a scan that timed out with no verdict, not as clean', async () => {
    // A quick rule that matches (score 90) beside a runaway one: libyara reports no rule when it times out.
    const compiled = compileRules(
      [
        {
          source:
            'rule quick { meta: score = 90 strings: $a = "AAAA" condition: $a }\n' +
            'rule slow { condition: for all i in (0..filesize) : ( for all j in (0..filesize) : ' +
            '(uint8(i) != uint8(j) or i == j or true) ) }',
        },
      ],
      { externals: SCAN_EXTERNALS },
    );
    assert.ok(compiled.rules);
    const { run, recorded } = processor({ SCAN_TIMEOUT_MS: '1000' }, compiled.rules);
    const result = await run('large-1');
    assert.equal(result.verdict, null);
    assert.equal(recorded[0]?.status, 'timeout');
    assert.equal(recorded[0]?.verdict, null);
    assert.deepEqual(recorded[0]?.matches, []);
    compiled.rules.destroy();
  });
});
