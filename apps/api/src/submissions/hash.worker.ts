// Hashing thread: md5, sha1 and sha256 of many uploads at once, each keyed by a session id.
import { createHash, type Hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import type { HashReply, HashRequest } from './hash-protocol.js';

interface Session {
  md5: Hash;
  sha1: Hash;
  sha256: Hash;
  size: number;
}
const sessions = new Map<number, Session>();
const port = parentPort;
if (port === null) throw new Error('hash.worker must run in a worker thread');

const open = (): Session => ({
  md5: createHash('md5'),
  sha1: createHash('sha1'),
  sha256: createHash('sha256'),
  size: 0,
});

port.on('message', (message: HashRequest) => {
  const { id } = message;
  switch (message.type) {
    case 'update': {
      let session = sessions.get(id);
      if (session === undefined) sessions.set(id, (session = open()));
      const view = new Uint8Array(message.data, 0, message.length);
      session.md5.update(view);
      session.sha1.update(view);
      session.sha256.update(view);
      session.size += message.length;
      port.postMessage({ type: 'ack', id, bytes: message.length, data: message.data } satisfies HashReply, [
        message.data,
      ]);
      return;
    }
    case 'end': {
      const session = sessions.get(id) ?? open();
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
