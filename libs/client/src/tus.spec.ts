import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { SpecimenClient } from './client.js';
import { type ChunkSource, uploadResumable } from './tus.js';

const KiB = 1024;

/** A tus service in memory: one upload, events logged in order, PATCH answers held until `release`. */
function fakeService(size: number, options: { conflictAt?: number; corruptOnce?: number } = {}) {
  const received: Buffer[] = [];
  let offset = 0;
  const events: string[] = [];
  let conflictPending = options.conflictAt !== undefined;
  let corruptPending = options.corruptOnce !== undefined;
  const fetchImpl: typeof fetch = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : input.toString());
    const method = init?.method ?? 'GET';
    const headers = new Headers(init?.headers);
    if (method === 'POST') {
      return new Response(null, { status: 201, headers: { location: '/v1/uploads/u1' } });
    }
    if (method === 'HEAD') {
      return new Response(null, {
        status: 200,
        headers: { 'upload-offset': String(offset), 'upload-length': String(size) },
      });
    }
    assert.equal(method, 'PATCH');
    assert.equal(url.pathname, '/v1/uploads/u1');
    const at = Number(headers.get('upload-offset'));
    const body = Buffer.from(init?.body as Uint8Array);
    events.push(`patch ${at}`);
    // Let the client run on (prepare the next chunk) before the answer comes.
    await new Promise((resolve) => setTimeout(resolve, 5));
    if (conflictPending && at === options.conflictAt) {
      // Another request of the same agent moved the offset meanwhile: the service took this chunk.
      conflictPending = false;
      received.push(body);
      offset += body.length;
      events.push(`409 at ${offset}`);
      return new Response(null, { status: 409 });
    }
    if (at !== offset) return new Response(null, { status: 409 });
    if (corruptPending && at === options.corruptOnce) {
      corruptPending = false;
      events.push(`460 ${at}`);
      return new Response(null, { status: 460 });
    }
    const [algorithm, digest] = (headers.get('upload-checksum') ?? '').split(' ');
    assert.equal(algorithm, 'sha256');
    assert.equal(createHash('sha256').update(body).digest('base64'), digest);
    received.push(body);
    offset += body.length;
    events.push(`204 ${offset}`);
    const done =
      offset === size
        ? { 'specimen-submission-id': 's1', 'specimen-sha256': 'x'.repeat(64), 'specimen-duplicate': 'false' }
        : {};
    return new Response(null, { status: 204, headers: { 'upload-offset': String(offset), ...done } });
  };
  return { fetchImpl, events, received: () => Buffer.concat(received) };
}

function source(bytes: Buffer, events: string[]): ChunkSource {
  return {
    size: bytes.length,
    read(offset, length) {
      events.push(`read ${offset}`);
      return Promise.resolve(bytes.subarray(offset, offset + length));
    },
  };
}

const bytesOf = (length: number) => Buffer.from(Array.from({ length }, (_, i) => (i * 7) % 251));
const metadata = { kind: 'file' as const, sha256: 'x'.repeat(64), size: 0 };

describe('uploadResumable', () => {
  it('reads and hashes the next chunk while the current PATCH is in flight, and sends every byte in order', async () => {
    const bytes = bytesOf(40 * KiB);
    const service = fakeService(bytes.length);
    const client = new SpecimenClient({ baseUrl: 'http://svc', fetch: service.fetchImpl });
    const result = await uploadResumable(client, {
      metadata: { ...metadata, size: bytes.length },
      source: source(bytes, service.events),
      chunkSize: 16 * KiB,
    });
    assert.equal(result.submission.submissionId, 's1');
    assert.ok(service.received().equals(bytes));
    assert.deepEqual(service.events, [
      'read 0',
      'read 16384',
      'patch 0',
      '204 16384',
      'read 32768',
      'patch 16384',
      '204 32768',
      'patch 32768',
      '204 40960',
    ]);
  });

  it('sends a refused chunk again as it was (460) and goes on from the service offset after a 409', async () => {
    const bytes = bytesOf(48 * KiB);
    const service = fakeService(bytes.length, { corruptOnce: 0, conflictAt: 16 * KiB });
    const client = new SpecimenClient({ baseUrl: 'http://svc', fetch: service.fetchImpl });
    await uploadResumable(client, {
      metadata: { ...metadata, size: bytes.length },
      source: source(bytes, service.events),
      chunkSize: 16 * KiB,
    });
    assert.ok(service.received().equals(bytes));
    // The 460 resends chunk 0 without reading it (or the one after it) again; after the 409 the service is
    // at 32 KiB, which is the chunk already read ahead.
    assert.deepEqual(service.events, [
      'read 0',
      'read 16384',
      'patch 0',
      '460 0',
      'patch 0',
      '204 16384',
      'read 32768',
      'patch 16384',
      '409 at 32768',
      'patch 32768',
      '204 49152',
    ]);
  });
});
