import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SpecimenClient, SpecimenClientError, retryDelayMs } from './client.js';

const policy = { attempts: 4, baseDelayMs: 100, maxDelayMs: 5000 };

describe('retryDelayMs', () => {
  it('waits Retry-After plus at most 20 % jitter', () => {
    assert.equal(
      retryDelayMs(policy, 1, 2, () => 0),
      2000,
    );
    assert.equal(
      retryDelayMs(policy, 1, 2, () => 1),
      2400,
    );
  });

  it('backs off exponentially without Retry-After, capped', () => {
    assert.equal(
      retryDelayMs(policy, 1, undefined, () => 0),
      100,
    );
    assert.equal(
      retryDelayMs(policy, 3, undefined, () => 0),
      400,
    );
    assert.equal(
      retryDelayMs(policy, 20, undefined, () => 0),
      5000,
    );
  });
});

describe('SpecimenClient.send', () => {
  const answer = (status: number, headers: Record<string, string> = {}, body: unknown = {}) =>
    new Response(JSON.stringify(body), {
      status,
      headers: { 'content-type': 'application/json', ...headers },
    });

  it('says why the service could not be reached, after the retries', async () => {
    const refused = (code: string, message: string) =>
      new SpecimenClient({
        baseUrl: 'http://h.test:3000',
        retry: { attempts: 2 },
        sleep: () => Promise.resolve(),
        // As fetch fails: a TypeError whose cause is the system's error.
        fetch: () =>
          Promise.reject(
            new TypeError('fetch failed', { cause: Object.assign(new Error(message), { code }) }),
          ),
      });
    await assert.rejects(refused('ECONNREFUSED', 'connect ECONNREFUSED').send('/v1/me'), {
      code: 'NETWORK',
      message:
        'cannot reach http://h.test:3000: connection refused (is the service running, and is this its address?)',
    });
    await assert.rejects(refused('ETIMEDOUT', 'no answer, and no byte moving, for 120 s').send('/v1/me'), {
      message: 'cannot reach http://h.test:3000: no answer, and no byte moving, for 120 s',
    });
  });

  it("keeps the base URL's path: a service behind a proxy at a path prefix", async () => {
    const asked: string[] = [];
    const client = new SpecimenClient({
      baseUrl: 'https://proxy.test/specimen/',
      fetch: (url) => {
        asked.push(url instanceof Request ? url.url : url.toString());
        return Promise.resolve(answer(200));
      },
    });
    await client.send('/v1/lookups');
    assert.deepEqual(asked, ['https://proxy.test/specimen/v1/lookups']);
    // A tus Location from the root, relative, or absolute.
    assert.equal(client.url('/v1/uploads/u1'), 'https://proxy.test/specimen/v1/uploads/u1');
    assert.equal(client.url('v1/uploads/u2'), 'https://proxy.test/specimen/v1/uploads/u2');
    assert.equal(client.url('https://other.test/v1/uploads/u3'), 'https://other.test/v1/uploads/u3');
    assert.equal(
      new SpecimenClient({ baseUrl: 'http://h.test:3000' }).url('/v1/me'),
      'http://h.test:3000/v1/me',
    );
  });

  it("says when an error is not the service's own (a proxy's HTML page)", async () => {
    const page = (status: number) =>
      Promise.resolve(
        new Response('<html>Bad Gateway</html>', { status, headers: { 'content-type': 'text/html' } }),
      );
    const client = new SpecimenClient({
      baseUrl: 'http://specimen.test',
      retry: { ...policy, attempts: 1 },
      fetch: () => page(502),
    });
    const error = await client.send('/v1/me').catch((e: unknown) => e);
    assert.ok(error instanceof SpecimenClientError);
    assert.deepEqual([error.status, error.code], [502, 'UNKNOWN']);
    assert.match(error.message, /a proxy or gateway in front of the service got no answer from it/);
  });

  /** A client answered by `replies` in turn (then 500s), recording the waits it asks for. */
  const scripted = (replies: Response[]): { client: SpecimenClient; waits: number[] } => {
    const waits: number[] = [];
    const client = new SpecimenClient({
      baseUrl: 'http://specimen.test/',
      retry: policy,
      fetch: () => Promise.resolve(replies.shift() ?? answer(500)),
      sleep: (ms) => {
        waits.push(ms);
        return Promise.resolve();
      },
    });
    return { client, waits };
  };

  it('retries 429 and 503 with their Retry-After, then returns the answer', async () => {
    const replies = [answer(429, { 'retry-after': '3' }), answer(503, { 'retry-after': '1' }), answer(200)];
    const { client, waits } = scripted(replies);
    const res = await client.send('/v1/lookups');
    assert.equal(res.status, 200);
    assert.equal(waits.length, 2);
    assert.ok((waits[0] ?? 0) >= 3000 && (waits[0] ?? 0) <= 3600);
    assert.ok((waits[1] ?? 0) >= 1000 && (waits[1] ?? 0) <= 1200);
  });

  it('retries 423 UPLOAD_LOCKED (an upload whose finish is under way or failed for a while) after its Retry-After', async () => {
    const locked = answer(
      423,
      { 'retry-after': '5' },
      { error: { code: 'UPLOAD_LOCKED', message: 'later' } },
    );
    const replies = [locked, answer(200, { 'specimen-submission-id': 's1' })];
    const { client, waits } = scripted(replies);
    const res = await client.send('/v1/uploads/u1', { method: 'HEAD', accept: [404, 410] });
    assert.equal(res.headers.get('specimen-submission-id'), 's1');
    assert.equal(waits.length, 1);
    assert.ok((waits[0] ?? 0) >= 5000 && (waits[0] ?? 0) <= 5000 * 1.2);
  });

  it('throws other errors at once with the service code', async () => {
    let calls = 0;
    const client = new SpecimenClient({
      baseUrl: 'http://specimen.test',
      fetch: () => {
        calls++;
        return Promise.resolve(answer(403, {}, { error: { code: 'CONSENT_REQUIRED', message: 'no' } }));
      },
    });
    await assert.rejects(
      client.send('/v1/lookups'),
      (e: unknown) => e instanceof SpecimenClientError && e.code === 'CONSENT_REQUIRED' && e.status === 403,
    );
    assert.equal(calls, 1);
  });

  it('gives up after the last attempt', async () => {
    let calls = 0;
    const client = new SpecimenClient({
      baseUrl: 'http://specimen.test',
      retry: policy,
      fetch: () => {
        calls++;
        return Promise.reject(new Error('connection refused'));
      },
      sleep: () => Promise.resolve(),
    });
    await assert.rejects(
      client.send('/'),
      (e: unknown) => e instanceof SpecimenClientError && e.code === 'NETWORK',
    );
    assert.equal(calls, 4);
  });
});

describe('SpecimenClient.submit', () => {
  it('sends one Idempotency-Key per upload, the same on each retry of it', async () => {
    const keys: Array<string | null> = [];
    let calls = 0;
    const client = new SpecimenClient({
      baseUrl: 'http://specimen.test',
      sleep: () => Promise.resolve(),
      fetch: (_url, init) => {
        keys.push(new Headers(init?.headers).get('idempotency-key'));
        // The first attempt of each upload loses its answer (the service recorded it, the connection dropped).
        if (++calls % 2 === 1) return Promise.reject(new TypeError('fetch failed'));
        return Promise.resolve(
          new Response(JSON.stringify({ submissionId: 's1', sha256: 'a'.repeat(64), duplicate: false }), {
            status: 201,
            headers: { 'content-type': 'application/json' },
          }),
        );
      },
    });
    const metadata = { kind: 'file', sha256: 'a'.repeat(64), size: 1 } as const;
    await client.submit(metadata, () => new Blob(['x']));
    await client.submit(metadata, () => new Blob(['x']));
    await client.submit(metadata, () => new Blob(['x']), { idempotencyKey: 'given-key' });
    assert.equal(keys.length, 6);
    assert.match(keys[0] ?? '', /^[0-9a-f-]{36}$/);
    assert.equal(keys[1], keys[0]);
    assert.equal(keys[3], keys[2]);
    assert.notEqual(keys[2], keys[0]);
    assert.deepEqual(keys.slice(4), ['given-key', 'given-key']);
  });
});
