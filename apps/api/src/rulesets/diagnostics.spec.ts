import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { locate, toDiagnosticView } from './diagnostics.js';

const source = ['rule A {', '  strings: $a = "x"', '  condition: $b', '}'].join('\n');

describe('rule diagnostics', () => {
  it('finds the column of a quoted token that occurs once on the line', () => {
    assert.deepEqual(locate(source, 3, 'undefined string "$b"'), { line: 3, column: 14 });
  });

  it('moves back to the line of the token when libyara blamed the next line', () => {
    assert.deepEqual(locate(source, 4, 'undefined string "$b"'), { line: 3, column: 14 });
  });

  it('keeps the reported line, column unknown, when the token cannot be placed', () => {
    assert.deepEqual(locate(source, 3, 'syntax error'), { line: 3, column: null });
    assert.deepEqual(locate('x x', 1, 'unexpected "x"'), { line: 1, column: null });
    assert.deepEqual(locate(source, 99, 'undefined "$b"'), { line: 99, column: null });
  });

  it('keeps severity, rule and message', () => {
    assert.deepEqual(
      toDiagnosticView(source, {
        severity: 'error',
        namespace: 'n',
        line: 4,
        rule: 'A',
        message: 'undefined string "$b"',
      }),
      { severity: 'error', rule: 'A', line: 3, column: 14, message: 'undefined string "$b"' },
    );
  });
});
