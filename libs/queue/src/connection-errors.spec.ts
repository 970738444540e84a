import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectionErrorThrottle, isConnectionFailure } from './connection-errors.js';

const refused = () =>
  Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6394'), { code: 'ECONNREFUSED' });

describe('ConnectionErrorThrottle', () => {
  it('says the first connection failure, then one line a period with the count left unsaid', () => {
    let now = 0;
    const throttle = new ConnectionErrorThrottle(60_000, () => now);
    assert.match(throttle.line(refused()) ?? '', /^Redis unreachable, retrying: connect ECONNREFUSED/);
    assert.equal(throttle.failing, true);
    now = 1_000;
    assert.equal(throttle.line(refused()), null);
    assert.equal(throttle.line(new Error('Connection is closed.')), null);
    now = 61_000;
    assert.match(throttle.line(refused()) ?? '', /\(2 more like it since the last line\)$/);
    throttle.recovered();
    assert.equal(throttle.failing, false);
    now = 62_000;
    assert.match(throttle.line(refused()) ?? '', /^Redis unreachable/);
  });

  it('takes a command ioredis gave up on while reconnecting for a connection failure', () => {
    const gaveUp = new Error(
      'Reached the max retries per request limit (which is 1). Refer to "maxRetriesPerRequest" option for details.',
    );
    assert.equal(isConnectionFailure(gaveUp), true);
  });

  it('lets every other error through, each time', () => {
    const throttle = new ConnectionErrorThrottle(60_000, () => 0);
    const bad = new Error('ERR Error running script: user_script:1: bad argument');
    assert.equal(isConnectionFailure(bad), false);
    assert.equal(throttle.line(bad), bad.message);
    assert.equal(throttle.line(bad), bad.message);
    assert.equal(throttle.failing, false);
  });
});

describe('ConnectionErrorThrottle.warn', () => {
  const logger = () => {
    const calls: unknown[][] = [];
    return { calls, warn: (...args: unknown[]) => void calls.push(args) };
  };

  it('logs a QUEUE_UNAVAILABLE by its cause, one line a period, without the error object', () => {
    const log = logger();
    const throttle = new ConnectionErrorThrottle(60_000, () => 0);
    const unavailable = () =>
      Object.assign(
        new Error('the job queue is unavailable', {
          cause: new Error('no answer from Redis within 3000 ms'),
        }),
        { code: 'QUEUE_UNAVAILABLE' },
      );
    throttle.warn(log, unavailable(), 'rate limit not checked');
    throttle.warn(log, unavailable(), 'rate limit not checked');
    assert.deepEqual(log.calls, [
      ['rate limit not checked: Redis unreachable, retrying: no answer from Redis within 3000 ms'],
    ]);
  });

  it('logs any other error with its stack, every time', () => {
    const log = logger();
    const throttle = new ConnectionErrorThrottle(60_000, () => 0);
    const bad = new Error('ERR wrong number of arguments');
    throttle.warn(log, bad, 'scan backlog unknown');
    throttle.warn(log, bad, 'scan backlog unknown');
    assert.deepEqual(log.calls, [
      [{ err: bad }, 'scan backlog unknown'],
      [{ err: bad }, 'scan backlog unknown'],
    ]);
  });
});
