import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { SpecimenError } from '#contracts';
import { RedisCircuit, type RedisProbe } from './redis-circuit.js';

const refused = () =>
  Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6394'), { code: 'ECONNREFUSED' });

const PROBE_EVERY_MS = 20;

/** A probe that fails until told otherwise, counting its calls and how many ran at once. */
function fakeProbe() {
  const probe = {
    answers: false,
    calls: 0,
    running: 0,
    mostAtOnce: 0,
    closed: false,
    async ping(): Promise<void> {
      probe.calls += 1;
      probe.running += 1;
      probe.mostAtOnce = Math.max(probe.mostAtOnce, probe.running);
      try {
        // Slower than the period: a second probe must still wait for this one.
        await new Promise((resolve) => setTimeout(resolve, PROBE_EVERY_MS * 2));
        if (!probe.answers) throw refused();
      } finally {
        probe.running -= 1;
      }
    },
    close(): void {
      probe.closed = true;
    },
  } satisfies RedisProbe & Record<string, unknown>;
  return probe;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 2_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

describe('RedisCircuit', () => {
  const circuits: RedisCircuit[] = [];
  afterEach(() => {
    for (const c of circuits.splice(0)) c.stop();
  });

  function circuit(probe: RedisProbe, now?: () => number, probeEveryMs = PROBE_EVERY_MS) {
    const events: string[] = [];
    const c = new RedisCircuit(
      probe,
      {
        onOpen: (failure) => events.push(`open: ${failure.message}`),
        onClose: (ms) => events.push(`close after ${ms} ms`),
      },
      probeEveryMs,
      now,
    );
    circuits.push(c);
    return { c, events };
  }

  it('lets calls through until a connection failure, then refuses them at once with QUEUE_UNAVAILABLE', () => {
    const { c, events } = circuit(fakeProbe());
    assert.doesNotThrow(() => c.check('the job queue is unavailable'));
    // An error of a command Redis answered says nothing about the connection.
    c.failed(new Error('ERR Error running script: user_script:1: bad argument'));
    assert.equal(c.unreachable, null);

    const failure = refused();
    c.failed(failure);
    c.failed(new Error('no answer from Redis within 3000 ms'));
    assert.equal(c.unreachable, failure);
    assert.throws(
      () => c.check('the job queue is unavailable'),
      (e: unknown) =>
        e instanceof SpecimenError &&
        e.code === 'QUEUE_UNAVAILABLE' &&
        e.message === 'the job queue is unavailable' &&
        e.cause === failure &&
        e.retryAfterSeconds === 5,
    );
    assert.deepEqual(events, ['open: connect ECONNREFUSED 127.0.0.1:6394'], 'said once');
  });

  it('probes one at a time while Redis does not answer, and closes at the first answer', async () => {
    const probe = fakeProbe();
    let now = 1_000;
    const { c, events } = circuit(probe, () => now);
    c.failed(refused());
    await until(() => probe.calls >= 3, 'three probes');
    assert.equal(probe.mostAtOnce, 1);
    assert.notEqual(c.unreachable, null);

    now = 13_500;
    probe.answers = true;
    await until(() => c.unreachable === null, 'the circuit to close');
    assert.doesNotThrow(() => c.check('the job queue is unavailable'));
    assert.deepEqual(events, ['open: connect ECONNREFUSED 127.0.0.1:6394', 'close after 12500 ms']);
    const calls = probe.calls;
    await sleep(PROBE_EVERY_MS * 5);
    assert.equal(probe.calls, calls, 'no probe while closed');

    // The next outage opens it again.
    c.failed(refused());
    assert.notEqual(c.unreachable, null);
  });

  it('closes when a command is answered, without waiting for the probe', async () => {
    const probe = fakeProbe();
    const { c, events } = circuit(probe);
    c.succeeded();
    assert.deepEqual(events, [], 'already closed: nothing to say');
    c.failed(refused());
    c.succeeded();
    assert.equal(c.unreachable, null);
    assert.equal(events.length, 2);
    await sleep(PROBE_EVERY_MS * 4);
    assert.equal(probe.calls, 1, 'only the probe started on opening');
  });

  it('probes at once on opening, so one dropped connection while Redis answers closes it within a round trip', async () => {
    const probe = fakeProbe();
    probe.answers = true;
    const { c, events } = circuit(probe, undefined, 60_000);
    c.failed(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
    assert.equal(probe.calls, 1, 'no wait for the period (a minute here)');
    assert.notEqual(c.unreachable, null, 'open until the probe is answered');
    await until(() => c.unreachable === null, 'the circuit to close');
    assert.equal(events.length, 2);
  });

  it('probes at once when asked (its connection is back), still one at a time', async () => {
    const probe = fakeProbe();
    probe.answers = true;
    const { c } = circuit(probe, undefined, 60_000);
    c.probeNow();
    assert.equal(probe.calls, 0, 'closed: nothing to probe');
    c.failed(refused());
    c.probeNow();
    c.probeNow();
    assert.equal(probe.calls, 1);
    await until(() => c.unreachable === null, 'the circuit to close');
  });

  it('stops probing, and ignores failures, once stopped', async () => {
    const probe = fakeProbe();
    const { c } = circuit(probe);
    c.failed(refused());
    c.stop();
    assert.equal(probe.closed, true);
    await sleep(PROBE_EVERY_MS * 4);
    assert.equal(probe.calls, 1, 'only the probe started on opening');
    c.succeeded();
    c.failed(refused());
    assert.equal(c.unreachable, null);
  });
});
