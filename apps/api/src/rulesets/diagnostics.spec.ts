import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SpecimenError } from '#contracts';
import { slowToCompileRule } from '#test-support';
import { compileSubmitted, locate, toDiagnosticView } from './diagnostics.js';

const LIMITS = { timeoutMs: 60_000, maxMemoryMb: 4096 };

const lines = ['rule A {', '  strings: $a = "x"', '  condition: $b', '}'];

describe('rule diagnostics', () => {
  it('finds the column of a quoted token that occurs once on the line', () => {
    assert.deepEqual(locate(lines, 3, 'undefined string "$b"'), { line: 3, column: 14 });
  });

  it('moves back to the line of the token when libyara blamed the next line', () => {
    assert.deepEqual(locate(lines, 4, 'undefined string "$b"'), { line: 3, column: 14 });
  });

  it('keeps the reported line, column unknown, when the token cannot be placed', () => {
    assert.deepEqual(locate(lines, 3, 'syntax error'), { line: 3, column: null });
    assert.deepEqual(locate(['x x'], 1, 'unexpected "x"'), { line: 1, column: null });
    assert.deepEqual(locate(lines, 99, 'undefined "$b"'), { line: 99, column: null });
  });

  it('keeps severity, rule and message', () => {
    assert.deepEqual(
      toDiagnosticView(lines, {
        severity: 'error',
        namespace: 'n',
        line: 4,
        rule: 'A',
        message: 'undefined string "$b"',
      }),
      { severity: 'error', rule: 'A', line: 3, column: 14, message: 'undefined string "$b"' },
    );
  });

  it('places the diagnostics of a large source without holding the event loop (each split the whole text)', async () => {
    // 2 MB of comment, then one rule whose 1,000 one-byte strings each draw a warning that quotes its token:
    // placing each warning split the whole text again, ~6 s of the event loop before the fix.
    const text = [
      '/*',
      'x'.repeat(18).concat('\n').repeat(100_000),
      '*/',
      'rule w {',
      '  strings:',
      ...Array.from({ length: 1000 }, (_, i) => `    $a${i} = "a"`),
      '  condition: any of them',
      '}',
    ].join('\n');
    let longest = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      longest = Math.max(longest, now - last);
      last = now;
    }, 5);
    try {
      const compiled = await compileSubmitted(text, 'big', 'ruleset', LIMITS);
      assert.equal(compiled.diagnostics.length, 1000);
      assert.deepEqual(compiled.diagnostics[999], {
        severity: 'warning',
        rule: 'w',
        line: 100_006 + 999,
        column: 5,
        message: 'string "$a999" may slow down scanning',
      });
    } finally {
      // The diagnostics are placed at the compile's end: the time since the last tick counts too.
      longest = Math.max(longest, performance.now() - last);
      clearInterval(timer);
    }
    assert.ok(longest < 1000, `the event loop was held for ${Math.round(longest)} ms`);
  });

  it('answers 400 naming the setting when the compile passes its deadline', async () => {
    const slow = slowToCompileRule(400);
    await assert.rejects(
      compileSubmitted(slow, 'slow', 'ruleset', { timeoutMs: 500, maxMemoryMb: 4096 }),
      (e: unknown) =>
        e instanceof SpecimenError &&
        e.code === 'VALIDATION_FAILED' &&
        e.message.startsWith('the rules did not compile within 500 ms (RULES_COMPILE_TIMEOUT_MS)'),
    );
  });
});
