import http from 'node:http';
import https from 'node:https';
import { fileURLToPath } from 'node:url';
import { Client } from 'minio';
import { FsObjectStore } from './fs.driver.js';
import { type ObjectStore } from './object-store.js';
import { S3ObjectStore, answerTimeoutTransport } from './s3.driver.js';

/** Options of {@link createObjectStore}. */
export interface ObjectStoreOptions {
  /** S3 multipart part size in bytes (default 8 MiB, at least 5 MiB); also the most a put buffers. */
  partSize?: number;
  /**
   * S3: how long a request may wait for the server's answer (its response headers) before it fails
   * with STORAGE_UNAVAILABLE (default 30 s). Time spent sending a body counts only while no byte moves.
   */
  timeoutMs?: number;
}

const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
const DEFAULT_TIMEOUT_MS = 30_000;
const S3_PARAMS = new Set(['ssl', 'region']);

/** A URL problem, phrased without echoing the URL: it may carry a secret key. */
function badUrl(problem: string): Error {
  return new Error(`Invalid STORAGE_URL: ${problem}`);
}

function parseUrl(url: string): URL {
  try {
    return new URL(url);
  } catch {
    throw badUrl('not a URL (expected file:///abs/dir or s3://ACCESS:SECRET@host:port/bucket?ssl=false)');
  }
}

/**
 * Opens the object store that `url` names, creating its root directory or bucket if missing:
 * - `file:///abs/dir`: files under an absolute directory;
 * - `s3://ACCESS:SECRET@host[:port]/bucket[?ssl=false][&region=us-east-1]`: one bucket of an S3 server
 *   such as MinIO (TLS unless `ssl=false`; access key and secret percent-encoded).
 * Throws an Error naming the problem for a bad URL, and SpecimenError STORAGE_UNAVAILABLE when the S3
 * server cannot be reached.
 */
export async function createObjectStore(url: string, options: ObjectStoreOptions = {}): Promise<ObjectStore> {
  const parsed = parseUrl(url);
  switch (parsed.protocol) {
    case 'file:':
      return FsObjectStore.open(fileRoot(url, parsed));
    case 's3:':
      return openS3(parsed, options.partSize ?? DEFAULT_PART_SIZE, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    default:
      throw badUrl(`unsupported scheme "${parsed.protocol}" (expected file: or s3:)`);
  }
}

function fileRoot(url: string, parsed: URL): string {
  // new URL('file:./x') silently means /x, so insist on the absolute form.
  if (!url.startsWith('file:///'))
    throw badUrl('a file: URL must be absolute, like file:///var/lib/specimen');
  if (parsed.search !== '' || parsed.hash !== '') throw badUrl('a file: URL takes no query or fragment');
  const root = fileURLToPath(parsed).replace(/\/+$/, '');
  if (root === '') throw badUrl('the file: URL must name a directory below /');
  return root;
}

async function openS3(parsed: URL, partSize: number, timeoutMs: number): Promise<ObjectStore> {
  let accessKey: string;
  let secretKey: string;
  try {
    accessKey = decodeURIComponent(parsed.username);
    secretKey = decodeURIComponent(parsed.password);
  } catch {
    throw badUrl('the s3: URL credentials are not validly percent-encoded');
  }
  if (accessKey === '' || secretKey === '') throw badUrl('an s3: URL needs ACCESS:SECRET@ credentials');
  if (parsed.hostname === '') throw badUrl('an s3: URL needs a host');
  const bucket = parsed.pathname.replace(/^\//, '');
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw badUrl('an s3: URL needs one path segment naming the bucket (3-63 of a-z 0-9 . -)');
  }
  for (const name of parsed.searchParams.keys()) {
    if (!S3_PARAMS.has(name)) throw badUrl(`unknown s3: URL parameter "${name}" (known: ssl, region)`);
  }
  const ssl = parsed.searchParams.get('ssl') ?? 'true';
  if (ssl !== 'true' && ssl !== 'false') throw badUrl('ssl must be true or false');
  const region = parsed.searchParams.get('region') ?? 'us-east-1';
  const useSSL = ssl === 'true';
  const client = new Client({
    endPoint: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: parsed.port === '' ? (useSSL ? 443 : 80) : Number(parsed.port),
    useSSL,
    accessKey,
    secretKey,
    // A known region spares the client a GetBucketLocation round trip before each first request.
    region,
    transport: answerTimeoutTransport(useSSL ? https : http, timeoutMs),
  });
  const store = new S3ObjectStore(client, bucket, partSize);
  await store.ensureBucket(region);
  return store;
}
