import assert from 'node:assert/strict';
import { type Server, type Socket, connect, createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { TestService, freePort } from '#test-support';

/**
 * A TCP relay in front of PostgreSQL that the test can cut (every connection dropped), stall (bytes held)
 * or turn into a listener that accepts and never answers.
 */
class Relay {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  stalled = false;

  constructor(readonly port: number) {}

  async up(mode: 'relay' | 'silent'): Promise<void> {
    await this.down();
    this.stalled = false;
    this.server = createServer((client) => {
      this.sockets.add(client);
      client.on('close', () => this.sockets.delete(client));
      client.on('error', () => undefined);
      if (mode === 'silent') return;
      const upstream = connect(5432, '127.0.0.1');
      this.sockets.add(upstream);
      upstream.on('close', () => this.sockets.delete(upstream));
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
      const forward = (from: Socket, to: Socket) =>
        from.on('data', (chunk: Buffer) => {
          if (!this.stalled) to.write(chunk);
        });
      forward(client, upstream);
      forward(upstream, client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => this.server?.listen(this.port, '127.0.0.1', resolve));
  }

  async down(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    const server = this.server;
    this.server = null;
    if (server !== null) await new Promise((resolve) => server.close(resolve));
  }
}

describe('PostgreSQL out of reach', () => {
  const env: Record<string, string> = {};
  const service = new TestService({ scanner: false, env });
  let relay: Relay;

  before(async () => {
    relay = new Relay(await freePort());
    env.DATABASE_URL = service.databaseUrl.replace(':5432/', `:${relay.port}/`);
    env.DATABASE_CONNECT_TIMEOUT_MS = '1000';
    env.DATABASE_QUERY_TIMEOUT_MS = '2000';
    env.HEALTH_CHECK_TIMEOUT_MS = '1000';
    await relay.up('relay');
    await service.start();
  });
  after(async () => {
    await service.stop();
    await relay.down();
  });

  /** A search (one statement) as the bootstrap admin, and how long its answer took. */
  const search = async () => {
    const started = Date.now();
    const res = await service.request('/v1/samples?limit=1');
    const body = (await res.json()) as { error?: { code: string } };
    return { status: res.status, code: body.error?.code, ms: Date.now() - started };
  };
  const unavailable = { status: 503, code: 'DATABASE_UNAVAILABLE' };

  it('answers 503 DATABASE_UNAVAILABLE, not 500, when the database is gone, and serves again after', async () => {
    assert.equal((await search()).status, 200);
    await relay.down();
    for (const path of [
      '/v1/samples?limit=1',
      '/v1/audit',
      '/v1/rulesets',
      '/v1/tokens',
      '/v1/stats/overview',
    ]) {
      const res = await service.request(path);
      const body = (await res.json()) as { error?: { code: string } };
      assert.deepEqual({ status: res.status, code: body.error?.code }, unavailable, path);
    }
    await relay.up('relay');
    assert.equal((await search()).status, 200);
    assert.doesNotMatch(service.output(), /"code":"INTERNAL"|INTERNAL on/);
  });

  it('answers 503 within DATABASE_CONNECT_TIMEOUT_MS when the database accepts and never answers', async () => {
    await relay.up('silent');
    const { ms, ...answer } = await search();
    assert.deepEqual(answer, unavailable);
    assert.ok(ms < 5_000, `answered after ${ms} ms`);
    await relay.up('relay');
    assert.equal((await search()).status, 200);
  });

  it('answers 503 within DATABASE_QUERY_TIMEOUT_MS when the database stops answering mid-connection', async () => {
    assert.equal((await search()).status, 200);
    relay.stalled = true;
    const { ms, ...answer } = await search();
    assert.deepEqual(answer, unavailable);
    assert.ok(ms < 6_000, `answered after ${ms} ms`);
    await relay.up('relay');
    assert.equal((await search()).status, 200);
  });
});
