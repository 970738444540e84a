import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** Statuses whose answers carry no body (a Response with one cannot be built). */
const NO_BODY = new Set([101, 204, 205, 304]);

/**
 * How long a request may go without a byte moving either way before it fails (as a network error, which
 * the client retries): the service's own longest wait before answering is 30 s (a HEAD waiting on a
 * finishing upload), and it closes a connection idle for 2 minutes. Without it a frozen service, or a
 * connection that died without a reset, left the CLI waiting forever.
 */
export const IDLE_TIMEOUT_MS = 120_000;

/**
 * A `fetch` for Node (the agent CLI; not for browsers, hence not in index.ts) that sends string and byte bodies with node:http(s): the global fetch (undici)
 * took 2–4 times as long to send an 8 MiB tus chunk over loopback (~60–90 ms against ~20–40 ms here), on
 * the critical path of every PATCH. Other bodies (the multipart FormData) go through the global fetch,
 * whose own limits (5 minutes for the answer's headers, then between its body's bytes) apply to them.
 * Answers are read whole: the service's answers are small JSON documents or empty.
 */
export const nodeFetch: typeof fetch = (input, init) => request(input, init, IDLE_TIMEOUT_MS);

/** {@link nodeFetch} with another idle timeout (tests). */
export const createNodeFetch =
  ({ idleTimeoutMs }: { idleTimeoutMs: number }): typeof fetch =>
  (input, init) =>
    request(input, init, idleTimeoutMs);

function request(
  input: Parameters<typeof fetch>[0],
  init: RequestInit | undefined,
  idleTimeoutMs: number,
): Promise<Response> {
  const body = init?.body;
  if (body !== undefined && body !== null && typeof body !== 'string' && !(body instanceof Uint8Array)) {
    return fetch(input, init);
  }
  const url = new URL(input instanceof Request ? input.url : input.toString());
  const headers: Record<string, string> = {};
  new Headers(init?.headers).forEach((value, name) => {
    headers[name] = value;
  });
  const payload =
    body === undefined || body === null
      ? null
      : typeof body === 'string'
        ? Buffer.from(body)
        : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (payload !== null) headers['content-length'] = String(payload.length);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const method = init?.method ?? 'GET';
  return new Promise<Response>((resolve, reject) => {
    const req = send(url, { method, headers, signal: init?.signal ?? undefined }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const answer = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          if (value === undefined) continue;
          for (const v of Array.isArray(value) ? value : [value]) answer.append(name, v);
        }
        const status = res.statusCode ?? 0;
        const empty = method === 'HEAD' || NO_BODY.has(status);
        resolve(
          new Response(empty ? null : Buffer.concat(chunks), {
            status,
            statusText: res.statusMessage ?? '',
            headers: answer,
          }),
        );
      });
    });
    // The client turns a rejection into a NETWORK error and retries it, as it does fetch's.
    req.on('error', reject);
    req.setTimeout(idleTimeoutMs, () => {
      const message = `no answer, and no byte moving, for ${idleTimeoutMs / 1000} s`;
      req.destroy(Object.assign(new Error(message), { code: 'ETIMEDOUT' }));
    });
    req.end(payload ?? undefined);
  });
}
