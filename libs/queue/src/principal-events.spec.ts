import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { type PrincipalChange, PrincipalEvents, principalChannel } from './principal-events.js';

const url = 'redis://127.0.0.1:6379';

/** One replica: what its handler saw, and when it was listening. */
function replica(prefix: string, ackDeadlineMs?: number) {
  const seen: PrincipalChange[] = [];
  let listening!: () => void;
  const ready = new Promise<void>((resolve) => (listening = resolve));
  const events = new PrincipalEvents(
    { url, prefix },
    { onChange: (change) => seen.push(change), onListening: () => listening(), onDeaf: () => undefined },
    { ackDeadlineMs },
  );
  events.start();
  return { events, seen, ready };
}

describe('PrincipalEvents (real Redis)', () => {
  const open: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((x) => x.close()));
  });

  it('resolves a publish only after every other replica has applied the change', async () => {
    const prefix = `t${randomBytes(6).toString('hex')}`;
    const replicas = [replica(prefix), replica(prefix), replica(prefix)];
    open.push(...replicas.map((r) => r.events));
    await Promise.all(replicas.map((r) => r.ready));
    const [a, b, c] = replicas as [(typeof replicas)[0], (typeof replicas)[0], (typeof replicas)[0]];
    for (let i = 0; i < 50; i++) {
      const change = { tokenId: `token-${i}` };
      const delivery = await a.events.publish(change);
      // Read synchronously once publish resolves: nothing else can have run in between.
      assert.deepEqual(b.seen.at(-1), change, `change ${i} not yet applied by B`);
      assert.deepEqual(c.seen.at(-1), change, `change ${i} not yet applied by C`);
      assert.deepEqual(delivery, { receivers: 3, applied: 3 });
    }
    assert.equal(a.seen.length, 50, 'the sender hears its own changes too');
  });

  it('stops waiting at the deadline for a subscriber that never answers', async () => {
    const prefix = `t${randomBytes(6).toString('hex')}`;
    const a = replica(prefix, 300);
    const b = replica(prefix, 300);
    open.push(a.events, b.events);
    // A bare subscriber (an operator's redis-cli, say) counts as a receiver but never acknowledges.
    const mute = new Redis(url);
    open.push({ close: () => Promise.resolve(mute.disconnect()) });
    await mute.subscribe(principalChannel(prefix));
    await Promise.all([a.ready, b.ready]);
    const started = performance.now();
    const delivery = await a.events.publish({ agentId: 'agent-1' });
    const waited = performance.now() - started;
    assert.deepEqual(delivery, { receivers: 3, applied: 2 });
    assert.ok(waited >= 290 && waited < 2_000, `waited ${waited} ms`);
    assert.deepEqual(b.seen, [{ agentId: 'agent-1' }]);
  });

  it('waits out the deadline while it cannot hear answers, and rejects when Redis is unreachable', async () => {
    const prefix = `t${randomBytes(6).toString('hex')}`;
    const b = replica(prefix);
    open.push(b.events);
    await b.ready;
    // Never started, so not subscribed: B's answer cannot reach it, and B gets the whole deadline.
    const a = new PrincipalEvents(
      { url, prefix },
      { onChange: () => undefined, onListening: () => undefined, onDeaf: () => undefined },
      { ackDeadlineMs: 300 },
    );
    open.push(a);
    const started = performance.now();
    assert.deepEqual(await a.publish({ tokenId: 't' }), { receivers: 1, applied: 0 });
    assert.ok(performance.now() - started >= 290);
    assert.deepEqual(b.seen, [{ tokenId: 't' }]);
    const dead = new PrincipalEvents(
      { url: 'redis://127.0.0.1:1', prefix },
      { onChange: () => undefined, onListening: () => undefined, onDeaf: () => undefined },
    );
    open.push(dead);
    await assert.rejects(dead.publish({ tokenId: 't' }));
  });

  it('keeps waiting when its own subscription breaks meanwhile', async () => {
    const prefix = `t${randomBytes(6).toString('hex')}`;
    const a = replica(prefix, 400);
    open.push(a.events);
    const mute = new Redis(url);
    open.push({ close: () => Promise.resolve(mute.disconnect()) });
    await mute.subscribe(principalChannel(prefix));
    await a.ready;
    const started = performance.now();
    const publishing = a.events.publish({ tokenId: 't' });
    await new Promise((r) => setTimeout(r, 50));
    const admin = new Redis(url);
    try {
      const line = ((await admin.call('CLIENT', 'LIST', 'TYPE', 'pubsub')) as string)
        .split('\n')
        .find((l) => l.includes(` name=${prefix}:auth-subscriber `));
      const id = /(?:^|\s)id=(\d+)/.exec(line ?? '')?.[1];
      assert.ok(id !== undefined, 'the subscriber connection');
      await admin.call('CLIENT', 'KILL', 'ID', id);
    } finally {
      admin.disconnect();
    }
    // The mute receiver might still be applying it: a broken subscription is no reason to answer early.
    assert.deepEqual(await publishing, { receivers: 2, applied: 1 });
    assert.ok(performance.now() - started >= 390, `resolved after ${performance.now() - started} ms`);
  });

  it('counts each replica once, however often its answer comes', async () => {
    const prefix = `t${randomBytes(6).toString('hex')}`;
    const a = replica(prefix, 300);
    open.push(a.events);
    const mute = new Redis(url);
    const echo = new Redis(url);
    const answers = new Redis(url);
    open.push(...[mute, echo, answers].map((r) => ({ close: () => Promise.resolve(r.disconnect()) })));
    await mute.subscribe(principalChannel(prefix));
    // A receiver that answers twice under one name, as a replica would when a message came twice.
    echo.on('message', (_channel: string, message: string) => {
      const { replica: to, id } = JSON.parse(message) as { replica: string; id: string };
      for (let i = 0; i < 2; i++) void answers.publish(`${prefix}:auth:acks:${to}`, `${id} ghost`);
    });
    await echo.subscribe(principalChannel(prefix));
    await a.ready;
    // A, the echo and the mute one received it; A and the echo answered (the echo twice): 2 of 3.
    assert.deepEqual(await a.events.publish({ agentId: 'x' }), { receivers: 3, applied: 2 });
  });

  it('applies changes without a sender (older replicas) and ignores messages that are not changes', async () => {
    const prefix = `t${randomBytes(6).toString('hex')}`;
    const b = replica(prefix);
    open.push(b.events);
    await b.ready;
    const raw = new Redis(url);
    open.push({ close: () => Promise.resolve(raw.disconnect()) });
    for (const message of [
      'not json',
      '{"tokenId":"old"}', // as replicas published before acknowledgements
      '{"replica":"r","id":"1"}',
      '{"agentId":1,"replica":"r","id":"1"}',
    ]) {
      await raw.publish(principalChannel(prefix), message);
    }
    await raw.publish(principalChannel(prefix), JSON.stringify({ agentId: 'ok', replica: 'r', id: '2' }));
    const deadline = Date.now() + 2_000;
    while (b.seen.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(b.seen, [{ tokenId: 'old' }, { agentId: 'ok' }]);
  });
});
