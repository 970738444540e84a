import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyRuleStates, computeVerdict, ruleScore } from './verdict.js';

const thresholds = { maliciousScore: 70, suspiciousScore: 30 };
const m = (meta: Record<string, string | number | boolean>, tags: string[] = []) => ({ meta, tags });

describe('verdict', () => {
  it('is clean without matches', () => {
    assert.equal(computeVerdict([], thresholds), 'clean');
  });

  it('takes the highest score against the thresholds', () => {
    assert.equal(computeVerdict([m({ score: 10 })], thresholds), 'clean');
    assert.equal(computeVerdict([m({ score: 10 }), m({ score: 30 })], thresholds), 'suspicious');
    assert.equal(computeVerdict([m({ score: 69 }), m({ score: 70 })], thresholds), 'malicious');
  });

  it('reads severity names, numeric strings and tags', () => {
    assert.equal(ruleScore(m({ severity: 'High' }), thresholds), 80);
    assert.equal(ruleScore(m({ score: '55' }), thresholds), 55);
    assert.equal(ruleScore(m({}, ['malicious']), thresholds), 100);
    assert.equal(ruleScore(m({ score: 250 }), thresholds), 100);
    assert.equal(ruleScore(m({ score: ' 75 ' }), thresholds), 75);
    assert.equal(ruleScore(m({ score: '12.5' }), thresholds), 12.5);
  });

  it('reads a score string that is no decimal number as no score', () => {
    // Number() would read "" and " " as 0 (clean), and "0x46" as 70.
    assert.equal(ruleScore(m({ score: '', severity: 'critical' }), thresholds), 100);
    assert.equal(ruleScore(m({ score: ' ' }), thresholds), thresholds.suspiciousScore);
    assert.equal(ruleScore(m({ score: '0x46' }), thresholds), thresholds.suspiciousScore);
    assert.equal(ruleScore(m({ score: '1e2' }), thresholds), thresholds.suspiciousScore);
    assert.equal(ruleScore(m({ score: 'high' }, ['malicious']), thresholds), 100);
  });

  it('treats a rule with no weight as suspicious', () => {
    assert.equal(computeVerdict([m({ author: 'x' })], thresholds), 'suspicious');
  });

  it('does not let noisy rules raise the verdict', () => {
    assert.equal(computeVerdict([{ ...m({ score: 100 }), noisy: true }], thresholds), 'clean');
    assert.equal(
      computeVerdict([{ ...m({ score: 100 }), noisy: true }, m({ score: 40 })], thresholds),
      'suspicious',
    );
  });

  it('drops disabled rules and flags noisy ones', () => {
    const states = new Map([
      ['Off', 'disabled' as const],
      ['Loud', 'noisy' as const],
      ['Back', 'enabled' as const],
    ]);
    const out = applyRuleStates(
      [{ rule: 'Off' }, { rule: 'Loud' }, { rule: 'Back' }, { rule: 'Plain' }],
      states,
    );
    assert.deepEqual(out, [
      { rule: 'Loud', noisy: true },
      { rule: 'Back', noisy: false },
      { rule: 'Plain', noisy: false },
    ]);
  });
});
