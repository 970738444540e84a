import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type AddressInfo, type Socket, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';

/** A running in-process S3 server and the STORAGE_URL that reaches it. */
export interface TestS3Server {
  /** `s3://S3RVER:S3RVER@127.0.0.1:<port>/<bucket>?ssl=false`, for createObjectStore. */
  url: string;
  /**
   * Every request the server has received, oldest first, kept up to date: whether it has been answered in
   * full (its last byte handed to the connection) and whether its connection is still open. A client that
   * gives up on a GetObject body must destroy it, which closes its connection; a body read to the end
   * leaves the connection open for the next request (keep-alive).
   */
  requests(): readonly S3Request[];
  /** Stops the server and removes its data directory. */
  close(): Promise<void>;
}

export interface S3Request {
  method: string;
  /** Path and query, e.g. `/specimen-test/samples/ab/cd/abcd…` for an object of bucket specimen-test. */
  url: string;
  answered: boolean;
  open: boolean;
}

export interface TestS3ServerOptions {
  /**
   * Puts a TCP proxy in front of the server (the url then names the proxy) that passes the server's bytes
   * on in pieces of at most this many bytes, one per turn of its event loop, as a network path with a
   * small MTU would: a client then reads its answers in pieces of sizes and boundaries of no pattern,
   * instead of the 64 KiB writes of s3rver's file streams that loopback mostly hands over whole.
   */
  pieceBytes?: number;
}

/**
 * Starts s3rver on 127.0.0.1 with a free port, a fresh temporary directory, no logging and one
 * bucket. s3rver lacks some S3 calls (multipart listing, AbortMultipartUpload).
 */
export async function startS3Server(
  bucket = 'specimen-test',
  options: TestS3ServerOptions = {},
): Promise<TestS3Server> {
  const directory = await mkdtemp(path.join(tmpdir(), 'specimen-s3rver-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: [{ name: bucket }],
  });
  try {
    let { port } = await server.run();
    const requests: S3Request[] = [];
    // The requests of each connection (keep-alive: one after the other), for its one 'close' listener.
    const byConnection = new WeakMap<Socket, S3Request[]>();
    server.httpServer?.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const request = {
        method: req.method ?? '',
        url: req.url ?? '',
        answered: false,
        open: !req.socket.destroyed,
      };
      requests.push(request);
      res.once('finish', () => (request.answered = true));
      let same = byConnection.get(req.socket);
      if (same === undefined) {
        const list: S3Request[] = [];
        byConnection.set(req.socket, (same = list));
        req.socket.once('close', () => list.forEach((r) => (r.open = false)));
      }
      same.push(request);
    });
    const proxy = options.pieceBytes === undefined ? null : await slicingProxy(port, options.pieceBytes);
    if (proxy !== null) port = proxy.port;
    return {
      requests: () => requests,
      // S3RVER/S3RVER are s3rver's built-in credentials.
      url: `s3://S3RVER:S3RVER@127.0.0.1:${port}/${bucket}?ssl=false`,
      async close() {
        await proxy?.close();
        await server.close();
        await rm(directory, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await server.close().catch(() => undefined);
    await rm(directory, { recursive: true, force: true });
    throw err;
  }
}

/** Resolves once `socket` can take more writes, or is closed. */
function writable(socket: Socket): Promise<void> {
  if (!socket.writableNeedDrain) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

/**
 * Listens on a free port of 127.0.0.1 and joins each connection to `target`: requests pass as they come,
 * answers in pieces of at most `pieceBytes`, one per setImmediate, reading no more from the target while
 * the client is behind (so a client that stops reading stops the server's answer, as without the proxy).
 * Either side's close or error closes the other; the proxy's close() ends its connections.
 */
async function slicingProxy(
  target: number,
  pieceBytes: number,
): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const proxy = createServer((client) => {
    const upstream = connect(target, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
      s.on('error', () => undefined); // the close that follows ends the other side
    }
    client.pipe(upstream);
    upstream.on('data', (data: Buffer) => {
      upstream.pause();
      void (async () => {
        for (let at = 0; at < data.length && !client.destroyed; at += pieceBytes) {
          client.write(data.subarray(at, at + pieceBytes));
          await writable(client);
          await new Promise((resolve) => setImmediate(resolve));
        }
        upstream.resume();
      })();
    });
    // Paused while pieces are still to go, the upstream emits 'end' only after they are written.
    upstream.once('end', () => client.end());
    upstream.once('close', () => {
      if (!upstream.readableEnded) client.destroy();
    });
    client.once('close', () => upstream.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    proxy.once('error', reject);
    proxy.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (proxy.address() as AddressInfo).port,
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => proxy.close(() => resolve()));
    },
  };
}
