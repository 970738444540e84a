// Hashing thread: md5, sha1 and sha256 of many uploads at once, each keyed by a session id.
import { createHash, type Hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import type { HashReply, HashRequest } from './hash-protocol.js';

const sessions = new Map<number, { md5: Hash; sha1: Hash; sha256: Hash; size: number }>();
const port = parentPort;
if (port === null) throw new Error('hash.worker must run in a worker thread');

port.on('message', (message: HashRequest) => {
  const { id } = message;
  switch (message.type) {
    case 'update': {
      let session = sessions.get(id);
      if (session === undefined) {
        session = { md5: createHash('md5'), sha1: createHash('sha1'), sha256: createHash('sha256'), size: 0 };
        sessions.set(id, session);
      }
      session.md5.update(message.data);
      session.sha1.update(message.data);
      session.sha256.update(message.data);
      session.size += message.data.byteLength;
      port.postMessage({ type: 'ack', id, bytes: message.data.byteLength } satisfies HashReply);
      return;
    }
    case 'end': {
      const session = sessions.get(id) ?? {
        md5: createHash('md5'),
        sha1: createHash('sha1'),
        sha256: createHash('sha256'),
        size: 0,
      };
      sessions.delete(id);
      port.postMessage({
        type: 'digests',
        id,
        digests: {
          md5: session.md5.digest('hex'),
          sha1: session.sha1.digest('hex'),
          sha256: session.sha256.digest('hex'),
          size: session.size,
        },
      } satisfies HashReply);
      return;
    }
    case 'abort':
      sessions.delete(id);
      return;
  }
});
