import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { columnOf, toDiagnosticView } from './diagnostics.js';

const source = ['rule A {', '  strings: $a = "x"', '  condition: $b', '}'].join('\n');

describe('rule diagnostics', () => {
  it('finds the column of a quoted token that occurs once on the line', () => {
    assert.equal(columnOf(source, 3, 'undefined string identifier "$b"'), 14);
  });

  it('leaves the column unknown when the token is absent, repeated, or the line does not exist', () => {
    assert.equal(columnOf(source, 3, 'syntax error'), null);
    assert.equal(columnOf('x x', 1, 'unexpected "x"'), null);
    assert.equal(columnOf(source, 99, 'undefined "$b"'), null);
  });

  it('keeps rule, line and message', () => {
    assert.deepEqual(
      toDiagnosticView(source, {
        severity: 'error',
        namespace: 'n',
        line: 3,
        rule: 'A',
        message: 'undefined string identifier "$b"',
      }),
      { severity: 'error', rule: 'A', line: 3, column: 14, message: 'undefined string identifier "$b"' },
    );
  });
});
