import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, open, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';

import {
  DEFAULT_RULESET_PATH,
  type ScanResult,
  YaraError,
  type YaraRules,
  compileRules,
  compileRulesAsync,
  compileRulesIsolated,
  compileTag,
  loadRules,
  ruleDefinitions,
  yaraVersion,
} from './index.js';
import { compilerProcesses, slowToCompileRule } from '#test-support';

const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';
const REPO_ROOT = resolve(DEFAULT_RULESET_PATH, '../../../..');
const SIGNATURE_BASE = join(REPO_ROOT, '..', 'shared', 'rulesets', 'signature-base-5287.yar');

function compileOk(source: string, externals?: Record<string, string | number | boolean>): YaraRules {
  const result = compileRules([{ source }], externals === undefined ? {} : { externals });
  assert.deepEqual(
    result.diagnostics.filter((d) => d.severity === 'error'),
    [],
  );
  assert.ok(result.rules);
  return result.rules;
}

function ruleNames(result: ScanResult): string[] {
  return result.matches.map((m) => m.rule).sort();
}

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'specimen-yara-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('libs/yara compile', () => {
  it('reports the libyara version', () => {
    assert.match(yaraVersion(), /^4\.\d+\.\d+$/);
  });

  it('tags compiled rules by libyara version, namespaces and options', () => {
    const externals = { kind: 'file', size: 0 };
    const tag = compileTag(['hunt'], { externals });
    assert.ok(tag.startsWith(`${yaraVersion()}-`));
    assert.equal(compileTag(['hunt'], { externals: { ...externals } }), tag);
    assert.notEqual(compileTag(['other'], { externals }), tag);
    assert.notEqual(compileTag(['hunt'], { externals: { kind: 'file', size: 0, file_type: '' } }), tag);
    assert.notEqual(compileTag(['hunt'], { externals, allowIncludes: true }), tag);
  });

  it('quarantines a broken rule and the rules that reference it, with original line numbers', async () => {
    const source = [
      'rule good_one { strings: $a = "alpha" condition: $a }',
      '',
      'rule broken {',
      '  strings: $b = "beta"',
      '  condition: $b and undefined_thing',
      '}',
      'rule depends_on_broken { condition: broken }',
      '/* rule fake { } */ rule good_two { strings: $c = /gam+a}/ condition: $c }',
    ].join('\n');
    const result = compileRules([{ source, fileName: 'mixed.yar', namespace: 'ns1' }]);
    const errors = result.diagnostics.filter((d) => d.severity === 'error');
    assert.deepEqual(
      errors.map((d) => [d.line, d.rule, d.fileName, d.namespace]),
      [
        [5, 'broken', 'mixed.yar', 'ns1'],
        [7, 'depends_on_broken', 'mixed.yar', 'ns1'],
      ],
    );
    assert.match(errors[0]?.message ?? '', /undefined identifier "undefined_thing"/);
    assert.match(errors[1]?.message ?? '', /"broken" was quarantined/);
    assert.deepEqual(result.quarantined, ['broken', 'depends_on_broken']);
    assert.equal(result.ruleCount, 2);
    assert.ok(result.rules);
    const scan = await result.rules.scanBuffer(Buffer.from('alpha ... gammma}'));
    assert.deepEqual(ruleNames(scan), ['good_one', 'good_two']);
  });

  it('blames a source that ends inside a rule on that rule, at its last line, not on the first rule', () => {
    // libyara reports the end of input as line 0 (and may name an earlier rule): the first rule was quarantined.
    const result = compileRules([{ source: 'rule ok { condition: true }\n\nrule cut { condition: ' }]);
    assert.deepEqual(result.quarantined, ['cut']);
    assert.equal(result.ruleCount, 1);
    assert.deepEqual(
      result.diagnostics.map((d) => [d.rule, d.line]),
      [['cut', 3]],
    );
    const alone = compileRules([{ source: 'rule a {' }]);
    assert.deepEqual(
      alone.diagnostics.map((d) => [d.rule, d.line]),
      [['a', 1]],
    );
  });

  it('blames stray text on a rule line (a byte-order mark, a stray word), not the good rule beside it', async () => {
    for (const [prefix, message] of [
      ['\uFEFF', /non-ascii character/],
      ['xx ', /syntax error/],
    ] as const) {
      const result = compileRules([
        { source: `${prefix}rule a { condition: true }\nrule b { condition: a }` },
      ]);
      assert.deepEqual(result.quarantined, [], JSON.stringify(prefix));
      assert.equal(result.ruleCount, 2);
      const errors = result.diagnostics.filter((d) => d.severity === 'error');
      assert.deepEqual(
        errors.map((d) => [d.rule, d.line]),
        [[undefined, 1]],
      );
      assert.match(errors[0]?.message ?? '', message);
      assert.ok(result.rules);
      assert.deepEqual(ruleNames(await result.rules.scanBuffer(Buffer.from('x'))), ['a', 'b']);
      result.rules.destroy();
    }
  });

  it('names a rule whose name is not an identifier as written, and lists no nameless rule as quarantined', () => {
    const source =
      'rule \u00FCn\u00EF { condition: true }\nrule { condition: true }\nrule ok : t { condition: true }';
    const result = compileRules([{ source }]);
    assert.deepEqual(result.quarantined, ['\u00FCn\u00EF']);
    assert.equal(result.ruleCount, 1);
    assert.deepEqual(
      result.diagnostics.filter((d) => d.severity === 'error').map((d) => d.line),
      [1, 2],
    );
    result.rules?.destroy();
    assert.deepEqual(
      ruleDefinitions(source).map((d) => d.name),
      ['\u00FCn\u00EF', 'ok'],
    );
  });

  it('survives an unclosed rule and errors in a second source', () => {
    const first = [
      'rule ok1 { condition: true }',
      'rule unclosed { strings: $a = "x" condition: $a',
      'rule ok2 { condition: filesize >= 0 }',
    ];
    const second = [
      'import "no_such_module"',
      'rule ok3 { condition: true }',
      'rule dup { condition: true }',
      'rule dup { condition: false }',
    ];
    const result = compileRules([
      { source: first.join('\n'), fileName: 'a.yar' },
      { source: second.join('\n'), fileName: 'b.yar', namespace: 'other' },
    ]);
    const errors = result.diagnostics.filter((d) => d.severity === 'error');
    assert.deepEqual(
      errors.map((d) => [d.fileName, d.line]),
      [
        ['a.yar', 3],
        ['b.yar', 1],
        ['b.yar', 4],
      ],
    );
    assert.deepEqual(result.quarantined, ['unclosed', 'dup']);
    assert.equal(result.ruleCount, 4);
  });

  it('keeps the first definition of a rule name and quarantines the later ones, at their own lines', async () => {
    const source = 'rule a { condition: true }\n\n\nrule a { condition: false }\nrule b { condition: a }\n';
    const result = compileRules([{ source, fileName: 'dup.yar' }]);
    const errors = result.diagnostics.filter((d) => d.severity === 'error');
    assert.deepEqual(
      errors.map((d) => [d.line, d.rule]),
      [[4, 'a']],
    );
    assert.match(
      errors[0]?.message ?? '',
      /duplicated identifier "a": a rule of this name is defined at line 1/,
    );
    assert.deepEqual(result.quarantined, ['a']);
    assert.equal(result.ruleCount, 2);
    assert.ok(result.rules);
    // The first definition is the one that runs (its condition is true), and b, which names it, too.
    assert.deepEqual(ruleNames(await result.rules.scanBuffer(Buffer.from('x'))), ['a', 'b']);
    result.rules.destroy();
  });

  it('returns warnings and no rules for an empty or fully broken ruleset', () => {
    const broken = compileRules([{ source: 'rule a { condition: nope }' }]);
    assert.equal(broken.rules, null);
    assert.deepEqual(broken.quarantined, ['a']);
    const slow = compileRules([{ source: 'rule s { strings: $a = "a" condition: $a }' }]);
    assert.ok(slow.diagnostics.some((d) => d.severity === 'warning' && d.rule === 's' && d.line === 1));
    slow.rules?.destroy();
  });

  it('refuses includes unless allowed', () => {
    const result = compileRules([{ source: 'include "/etc/passwd"\nrule a { condition: true }' }]);
    assert.match(result.diagnostics[0]?.message ?? '', /includes are disabled/);
    assert.equal(result.ruleCount, 1);
  });

  it(
    'compiles the 5,287-rule signature-base set fast, also with bad rules in it',
    { skip: !existsSync(SIGNATURE_BASE) },
    async () => {
      const text = await readFile(SIGNATURE_BASE, 'utf8');
      let start = performance.now();
      const clean = compileRules([{ source: text }]);
      const cleanMs = performance.now() - start;
      assert.equal(clean.quarantined.length, 0);
      assert.ok(clean.ruleCount > 5000);
      assert.ok(cleanMs < 5000, `clean compile took ${cleanMs} ms`);

      // Break three rules spread over the file with an invalid meta value right after their header.
      const lines = text.split('\n');
      const headers = lines.flatMap((line, i) => (/^rule \w+.*\{\s*$/.test(line) ? [i] : []));
      for (const n of [headers[4000], headers[2000], headers[10]]) {
        if (n !== undefined) lines.splice(n + 1, 0, '  meta: broken = zzz');
      }
      const brokenLines = lines.flatMap((line, i) => (line.includes('broken = zzz') ? [i + 1] : []));
      const broken = lines.join('\n');
      start = performance.now();
      const result = compileRules([{ source: broken }]);
      const ms = performance.now() - start;
      const errors = result.diagnostics.filter((d) => d.severity === 'error');
      assert.deepEqual(
        errors.map((d) => d.line),
        brokenLines,
      );
      assert.equal(result.quarantined.length, 3);
      assert.equal(result.ruleCount, clean.ruleCount - 3);
      assert.ok(ms < 20000, `compile with quarantine took ${ms} ms`);
      clean.rules?.destroy();
      result.rules?.destroy();
    },
  );
});

/** `count` generated rules, each with a text, a hex and a regex string (big enough to compile for a while). */
function generatedRules(count: number): string {
  const rules: string[] = [];
  for (let i = 0; i < count; i++) {
    const hex = Array.from({ length: 12 }, (_, j) =>
      ((i * 31 + j * 17) % 256).toString(16).padStart(2, '0'),
    ).join(' ');
    rules.push(
      `rule r${i} { strings: $a = "word${i}_alpha" ascii wide nocase $b = { ${hex} } $c = /re${i}[a-z]{2,8}x/ condition: any of them }`,
    );
  }
  return rules.join('\n');
}

/** Runs `fn` while a 5 ms interval ticks; returns its result, how long it took and the longest pause. */
async function watchEventLoop<T>(
  fn: () => Promise<T> | T,
): Promise<{ value: T; ms: number; longestPauseMs: number; ticks: number }> {
  let last = performance.now();
  let longestPauseMs = 0;
  let ticks = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longestPauseMs = Math.max(longestPauseMs, now - last);
    last = now;
    ticks++;
  }, 5);
  const start = performance.now();
  try {
    const value = await fn();
    const end = performance.now();
    longestPauseMs = Math.max(longestPauseMs, end - last);
    return { value, ms: end - start, longestPauseMs, ticks };
  } finally {
    clearInterval(timer);
  }
}

describe('libs/yara compile off the main thread', () => {
  it('keeps the event loop ticking during a large compile, with the same rules as a blocking compile', async () => {
    const source = generatedRules(30_000);
    const blocking = await watchEventLoop(() => compileRules([{ source }]));
    const pooled = await watchEventLoop(() => compileRulesAsync([{ source }]));
    try {
      // The blocking compile stops the loop for its whole length; the pooled one must not.
      assert.ok(
        blocking.longestPauseMs > 300,
        `the test ruleset compiles too fast (${blocking.ms} ms) to tell`,
      );
      assert.ok(
        pooled.longestPauseMs < blocking.longestPauseMs / 4,
        `event loop paused ${pooled.longestPauseMs.toFixed(0)} ms during the pooled compile (blocking: ${blocking.longestPauseMs.toFixed(0)} ms)`,
      );
      assert.ok(pooled.ticks >= 10, `only ${pooled.ticks} ticks during a ${pooled.ms.toFixed(0)} ms compile`);
      assert.equal(pooled.value.ruleCount, 30_000);
      assert.equal(pooled.value.ruleCount, blocking.value.ruleCount);
      const scan = await pooled.value.rules?.scanBuffer(Buffer.from('.. WORD12345_ALPHA .. re777abcx ..'));
      assert.deepEqual(scan?.matches.map((m) => m.rule).sort(), ['r12345', 'r777']);
    } finally {
      blocking.value.rules?.destroy();
      pooled.value.rules?.destroy();
    }
  });

  it('quarantines broken rules the same way as the blocking compile', async () => {
    const source = [
      'rule good_one { strings: $a = "alpha" condition: $a }',
      'rule broken { condition: undefined_thing }',
      'rule depends_on_broken { condition: broken }',
    ].join('\n');
    const sources = [{ source, fileName: 'mixed.yar', namespace: 'ns1' }];
    const blocking = compileRules(sources, { externals: { kind: 'file' } });
    const pooled = await compileRulesAsync(sources, { externals: { kind: 'file' } });
    try {
      assert.deepEqual(pooled.diagnostics, blocking.diagnostics);
      assert.deepEqual(pooled.quarantined, ['broken', 'depends_on_broken']);
      assert.equal(pooled.ruleCount, 1);
      assert.equal((await pooled.rules?.scanBuffer(Buffer.from('alpha')))?.matches[0]?.rule, 'good_one');
    } finally {
      blocking.rules?.destroy();
      pooled.rules?.destroy();
    }
  });

  it('rejects bad externals, and gives null rules when nothing compiles', async () => {
    await assert.rejects(
      compileRulesAsync([{ source: 'rule a { condition: true }' }], {
        externals: { bad: {} as unknown as string },
      }),
    );
    const none = await compileRulesAsync([{ source: 'rule a { condition: nope }' }]);
    assert.equal(none.rules, null);
    assert.equal(none.ruleCount, 0);
    assert.deepEqual(none.quarantined, ['a']);
  });
});

describe('libs/yara compile in a child process', () => {
  const roomy = { timeoutMs: 60_000, maxMemoryMb: 4096 };

  it('gives the same rules, diagnostics and quarantine as a compile in this process', async () => {
    const source = [
      'rule good_one { strings: $a = "alpha" condition: $a and kind == "file" }',
      'rule broken { condition: undefined_thing }',
      'rule depends_on_broken { condition: broken }',
      'rule noisy { strings: $b = "a" condition: $b }',
    ].join('\n');
    const sources = [{ source, fileName: 'mixed.yar', namespace: 'ns1' }];
    const options = { externals: { kind: 'file' } };
    const here = compileRules(sources, options);
    const isolated = await compileRulesIsolated(sources, options, roomy);
    try {
      assert.deepEqual(isolated.diagnostics, here.diagnostics);
      assert.ok(
        isolated.diagnostics.some((d) => d.severity === 'warning'),
        'the warning came back too',
      );
      assert.deepEqual(isolated.quarantined, ['broken', 'depends_on_broken']);
      assert.equal(isolated.ruleCount, 2);
      const scan = await isolated.rules?.scanBuffer(Buffer.from('alpha'), { externals: { kind: 'file' } });
      assert.deepEqual(scan?.matches.map((m) => m.rule).sort(), ['good_one', 'noisy']);
    } finally {
      here.rules?.destroy();
      isolated.rules?.destroy();
    }
  });

  it("gives null rules when nothing compiles, and the compiler's own errors as they are", async () => {
    const none = await compileRulesIsolated([{ source: 'rule a { condition: nope }' }], {}, roomy);
    assert.equal(none.rules, null);
    assert.deepEqual(none.quarantined, ['a']);
    await assert.rejects(
      compileRulesIsolated(
        [{ source: 'rule a { condition: true }' }],
        { externals: { bad: {} as unknown as string } },
        roomy,
      ),
      (e: unknown) => e instanceof YaraError && e.code !== 'YARA_ERROR_COMPILE_TIMEOUT',
    );
  });

  it('stops a compile at its deadline, and the next compile runs at once', async () => {
    const started = performance.now();
    await assert.rejects(
      compileRulesIsolated([{ source: slowToCompileRule(400) }], {}, { timeoutMs: 700, maxMemoryMb: 4096 }),
      (e: unknown) =>
        e instanceof YaraError && e.code === 'YARA_ERROR_COMPILE_TIMEOUT' && /within 700 ms/.test(e.message),
    );
    const stoppedAfter = performance.now() - started;
    assert.ok(stoppedAfter < 3_000, `stopped after ${stoppedAfter.toFixed(0)} ms`);
    assert.deepEqual(
      compilerProcesses(process.pid),
      [],
      'the compiling process was killed, not left to finish',
    );
    // The same rules compile here in seconds: the deadline, not the rules, ended it.
    const next = performance.now();
    const small = await compileRulesIsolated([{ source: 'rule a { condition: true }' }], {}, roomy);
    small.rules?.destroy();
    assert.ok(performance.now() - next < 2_000, 'the next compile did not wait for the stopped one');
  });

  it('stops a compile whose process passes the memory bound', async () => {
    // Node alone takes more than 20 MB resident, so the bound is passed whatever the rules.
    await assert.rejects(
      compileRulesIsolated([{ source: slowToCompileRule(400) }], {}, { timeoutMs: 60_000, maxMemoryMb: 20 }),
      (e: unknown) => e instanceof YaraError && e.code === 'YARA_ERROR_COMPILE_MEMORY',
    );
  });

  it('runs compiles one at a time, each with its own deadline', async () => {
    const source = 'rule a { strings: $a = "alpha" condition: $a }';
    const results = await Promise.all(
      Array.from({ length: 3 }, () =>
        compileRulesIsolated([{ source }], {}, { timeoutMs: 10_000, maxMemoryMb: 4096 }),
      ),
    );
    for (const result of results) {
      assert.equal(result.ruleCount, 1);
      result.rules?.destroy();
    }
  });
});

describe('libs/yara scan', () => {
  it('detects EICAR with the default ruleset via scanBuffer and scanFile', async () => {
    const result = compileRules([
      { source: await readFile(DEFAULT_RULESET_PATH, 'utf8'), fileName: 'default.yar' },
    ]);
    assert.deepEqual(result.diagnostics, []);
    assert.ok(result.rules);
    const fromBuffer = await result.rules.scanBuffer(Buffer.from(EICAR));
    const path = join(dir, 'eicar.com');
    await writeFile(path, EICAR);
    const fromFile = await result.rules.scanFile(path);
    for (const scan of [fromBuffer, fromFile]) {
      assert.equal(scan.timedOut, false);
      assert.deepEqual(ruleNames(scan), ['EICAR_Test_File']);
      const match = scan.matches[0];
      assert.deepEqual(match?.tags, ['test']);
      assert.equal(match?.meta.score, 100);
      assert.equal(match?.meta.severity, 'malicious');
      assert.deepEqual(match?.strings, [{ identifier: '$eicar', offset: 0, length: 68 }]);
    }
    const embedded = await result.rules.scanBuffer(
      Buffer.concat([Buffer.alloc(4096, 0x41), Buffer.from(EICAR)]),
    );
    assert.deepEqual(ruleNames(embedded), ['EICAR_Test_String_Embedded']);
    assert.deepEqual(ruleNames(await result.rules.scanBuffer(Buffer.from('harmless text'))), []);
  });

  it('reports meta, tags and string offsets and lengths', async () => {
    const rules = compileOk(`
      rule tagged : alpha beta {
        meta:
          author = "specimen"
          score = 42
          enabled = true
          author = "ignored duplicate"
        strings:
          $text = "needle"
          $hex = { DE AD ?? EF }
          $re = /ha+y/
          $hidden = "needle" private
        condition:
          all of them
      }
      private rule helper { condition: true }`);
    const data = Buffer.concat([
      Buffer.from('needle..haaay..'),
      Buffer.from([0xde, 0xad, 0x00, 0xef]),
      Buffer.from('needle'),
    ]);
    const result = await rules.scanBuffer(data);
    assert.equal(result.matches.length, 1);
    const match = result.matches[0];
    assert.equal(match?.rule, 'tagged');
    assert.equal(match?.namespace, 'default');
    assert.deepEqual(match?.tags, ['alpha', 'beta']);
    assert.deepEqual(match?.meta, { author: 'specimen', score: 42, enabled: true });
    assert.deepEqual(match?.strings, [
      { identifier: '$text', offset: 0, length: 6 },
      { identifier: '$text', offset: 19, length: 6 },
      { identifier: '$hex', offset: 15, length: 4 },
      { identifier: '$re', offset: 8, length: 5 },
    ]);
    assert.equal(rules.ruleCount, 2);
  });

  it('caps match records per string', async () => {
    const rules = compileOk('rule many { strings: $a = "ab" condition: #a > 5000 }');
    const data = Buffer.from('ab'.repeat(10_000));
    assert.equal((await rules.scanBuffer(data)).matches[0]?.strings.length, 1000);
    assert.equal((await rules.scanBuffer(data, { maxMatchesPerString: 3 })).matches[0]?.strings.length, 3);
  });

  it('keeps at most maxMatchesPerScan match records in a scan, every rule still reported', async () => {
    // 40 strings that each match 1,000 times (per-string cap): 40,000 records without the scan's cap.
    const strings = Array.from(
      { length: 40 },
      (_, i) => `$s${i} = "${String.fromCharCode(65 + (i % 26))}${i}"`,
    );
    const rules = compileOk(
      `rule many_strings { strings: ${strings.join(' ')} condition: any of them }\nrule other { strings: $x = "A0" condition: $x }`,
    );
    const data = Buffer.from(
      strings.map((_, i) => `${String.fromCharCode(65 + (i % 26))}${i}`.repeat(1200)).join(''),
    );
    const total = (result: ScanResult) => result.matches.reduce((n, m) => n + m.strings.length, 0);
    const capped = await rules.scanBuffer(data);
    assert.equal(total(capped), 10_000);
    assert.deepEqual(capped.matches.map((m) => m.rule).sort(), ['many_strings', 'other']);
    assert.equal(total(await rules.scanBuffer(data, { maxMatchesPerScan: 2500 })), 2500);
    assert.equal(total(await rules.scanBuffer(data, { maxMatchesPerScan: 100_000 })), 41_000);
    await assert.rejects(async () => rules.scanBuffer(data, { maxMatchesPerScan: -1 }), {
      code: 'YARA_ERROR_INVALID_ARGUMENT',
    });
  });

  it('scans a 0-byte buffer and a 0-byte file', async () => {
    const rules = compileOk('rule empty { condition: filesize == 0 }');
    const path = join(dir, 'empty.bin');
    await writeFile(path, '');
    assert.deepEqual(ruleNames(await rules.scanBuffer(Buffer.alloc(0))), ['empty']);
    assert.deepEqual(ruleNames(await rules.scanFile(path)), ['empty']);
  });

  it('rejects with a code when a file cannot be opened', async () => {
    const rules = compileOk('rule a { condition: true }');
    await assert.rejects(rules.scanFile(join(dir, 'missing.bin')), (error: unknown) => {
      assert.ok(error instanceof YaraError);
      assert.equal(error.code, 'YARA_ERROR_COULD_NOT_OPEN_FILE');
      return true;
    });
    await assert.rejects(rules.scanFile(dir), { code: 'YARA_ERROR_COULD_NOT_OPEN_FILE' });
  });

  it('times out a runaway rule without blocking the event loop', async () => {
    const rules = compileOk(
      'rule slow { condition: for all i in (0..filesize) : ( for all j in (0..filesize) : (uint8(i) != uint8(j) or i == j or true) ) }',
    );
    let ticks = 0;
    let worstGapMs = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      worstGapMs = Math.max(worstGapMs, now - last);
      last = now;
      ticks++;
    }, 20);
    const start = performance.now();
    try {
      const result = await rules.scanBuffer(Buffer.alloc(1024 * 1024, 7), { timeoutMs: 1000 });
      const elapsed = performance.now() - start;
      assert.equal(result.timedOut, true);
      assert.deepEqual(result.matches, []);
      assert.ok(elapsed < 4000, `took ${elapsed} ms`);
      assert.ok(ticks >= 20, `only ${ticks} timer ticks`);
      assert.ok(worstGapMs < 250, `event loop stalled ${worstGapMs} ms`);
    } finally {
      clearInterval(timer);
    }
  });

  it('scans a 2 GB sparse file through mmap', async () => {
    const rules = compileOk('rule marker { strings: $m = "SPECIMEN-SPARSE-MARKER" condition: $m }');
    const path = join(dir, 'sparse.bin');
    const size = 2 * 1024 ** 3;
    const offset = size - 4096;
    await writeFile(path, '');
    try {
      await truncate(path, size);
      const handle = await open(path, 'r+');
      await handle.write(Buffer.from('SPECIMEN-SPARSE-MARKER'), 0, 22, offset);
      await handle.close();
      const result = await rules.scanFile(path);
      assert.deepEqual(result.matches[0]?.strings, [{ identifier: '$m', offset, length: 22 }]);
    } finally {
      await rm(path, { force: true });
    }
  });

  it('runs 50 concurrent scans on one rules object', async () => {
    const rules = compileOk('rule n { strings: $a = /item-[0-9]+!/ condition: $a }');
    const inputs = Array.from({ length: 50 }, (_, i) =>
      Buffer.concat([Buffer.alloc(64 * 1024 + i * 997, 0x20), Buffer.from(`item-${i}!`)]),
    );
    const pending = inputs.map((buffer) => rules.scanBuffer(buffer));
    assert.equal(rules.pendingScans, 50);
    const results = await Promise.all(pending);
    results.forEach((result, i) => {
      assert.deepEqual(result.matches[0]?.strings, [
        { identifier: '$a', offset: 64 * 1024 + i * 997, length: `item-${i}!`.length },
      ]);
    });
    assert.equal(rules.pendingScans, 0);
  });

  it('keeps per-scan externals apart in concurrent scans', async () => {
    const rules = compileOk(
      'rule by_kind { condition: kind == "memory-region" and limit > 10 } rule other { condition: not by_kind and flag }',
      { kind: '', limit: 0, flag: false },
    );
    const data = Buffer.alloc(256 * 1024);
    const [memory, file, defaults] = await Promise.all([
      rules.scanBuffer(data, { externals: { kind: 'memory-region', limit: 11 } }),
      rules.scanBuffer(data, { externals: { kind: 'file', limit: 11, flag: true } }),
      rules.scanBuffer(data),
    ]);
    assert.deepEqual(ruleNames(memory), ['by_kind']);
    assert.deepEqual(ruleNames(file), ['other']);
    assert.deepEqual(ruleNames(defaults), []);
    await assert.rejects(rules.scanBuffer(data, { externals: { undeclared: 1 } }), {
      code: 'YARA_ERROR_INVALID_ARGUMENT',
    });
    await assert.rejects(rules.scanBuffer(data, { externals: { limit: 'x' } }), {
      code: 'YARA_ERROR_INVALID_EXTERNAL_VARIABLE_TYPE',
    });
  });

  it('loads and scans in a worker thread alongside the main thread', async () => {
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      import(workerData.url).then(async ({ compileRules }) => {
        const { rules } = compileRules([{ source: 'rule in_worker { strings: $a = "worker" condition: $a }' }]);
        const result = await rules.scanBuffer(Buffer.from('hello worker'));
        parentPort.postMessage(result.matches.map((m) => m.rule));
      });`;
    const worker = new Worker(code, {
      eval: true,
      workerData: { url: new URL('./index.js', import.meta.url).href },
    });
    const rules = compileOk('rule in_main { strings: $a = "main" condition: $a }');
    const [fromWorker, fromMain] = await Promise.all([
      new Promise<unknown>((resolveMessage, reject) => {
        worker.once('message', resolveMessage);
        worker.once('error', reject);
      }),
      rules.scanBuffer(Buffer.from('hello main')),
    ]);
    await worker.terminate();
    assert.deepEqual(fromWorker, ['in_worker']);
    assert.deepEqual(ruleNames(fromMain), ['in_main']);
  });

  it('saves and loads compiled rules', async () => {
    const rules = compileOk('rule saved : t { meta: score = 7 strings: $a = "persisted" condition: $a }');
    const path = join(dir, 'rules.yarc');
    rules.save(path);
    const loaded = loadRules(path);
    assert.equal(loaded.ruleCount, 1);
    const result = await loaded.scanBuffer(Buffer.from('xx persisted'));
    assert.deepEqual(result.matches, [
      {
        rule: 'saved',
        namespace: 'default',
        tags: ['t'],
        meta: { score: 7 },
        strings: [{ identifier: '$a', offset: 3, length: 9 }],
      },
    ]);
    await writeFile(join(dir, 'junk.yarc'), 'not rules');
    assert.throws(() => loadRules(join(dir, 'junk.yarc')), { code: 'YARA_ERROR_INVALID_FILE' });
  });

  it('lets running scans finish after destroy() and refuses new ones', async () => {
    const rules = compileOk('rule a { strings: $a = "z" condition: $a }');
    const running = rules.scanBuffer(Buffer.alloc(8 * 1024 * 1024, 0x7a));
    rules.destroy();
    assert.equal((await running).matches.length, 1);
    await assert.rejects(rules.scanBuffer(Buffer.from('z')), { code: 'YARA_ERROR_RULES_DESTROYED' });
  });
});
