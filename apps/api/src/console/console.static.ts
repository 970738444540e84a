import { readFileSync, readdirSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import type { NextFunction, Request, RequestHandler, Response } from 'express';

/** Paths the console never answers, whatever their tail: the API, its document, metrics and health. */
const RESERVED = ['/v1', '/docs', '/metrics', '/health'];

export const isReservedPath = (path: string): boolean =>
  RESERVED.some((p) => path === p || path.startsWith(`${p}/`)) || path.startsWith('/health');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * The console's policy: its own scripts only (Vite emits no inline script), inline styles allowed because
 * Mantine and CodeMirror set style attributes and inject style elements, data: images for Mantine's
 * inline SVGs, and requests only to this origin.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Content codings the build writes beside a file (apps/console/precompress.ts), best first. */
const ENCODINGS = [
  { coding: 'br', suffix: '.br' },
  { coding: 'gzip', suffix: '.gz' },
] as const;
type Coding = (typeof ENCODINGS)[number]['coding'];

interface Asset {
  file: string;
  type: string;
  /** Vite names the files under assets/ by their content hash: they never change under one name. */
  immutable: boolean;
  /** Compressed copies made at build time, by content coding, with their entity tags. */
  encoded: Partial<Record<Coding, { file: string; etag: string }>>;
}

/**
 * The content codings a request's Accept-Encoding allows (RFC 9110 12.5.3): those named with a q above 0,
 * or covered by `*`; a coding given q=0 is refused even when `*` allows the rest. Among those allowed the
 * server's order decides (brotli, then gzip), not the weights, as the RFC permits.
 */
export function acceptedCodings(header: string | undefined): Set<string> {
  const accepted = new Set<string>();
  if (header === undefined) return accepted;
  const refused = new Set<string>();
  let star = false;
  for (const part of header.split(',')) {
    const [given = '', ...params] = part.split(';').map((p) => p.trim().toLowerCase());
    // RFC 9110 8.4.1.3: x-gzip is gzip.
    const name = given === 'x-gzip' ? 'gzip' : given;
    if (name === '') continue;
    const q = params.find((p) => p.startsWith('q='));
    const weight = q === undefined ? 1 : Number(q.slice(2));
    const allowed = Number.isFinite(weight) && weight > 0;
    if (name === '*') star = allowed;
    else if (allowed) accepted.add(name);
    else refused.add(name);
  }
  if (star) for (const { coding } of ENCODINGS) if (!refused.has(coding)) accepted.add(coding);
  return accepted;
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

/**
 * Serves the built console (`dist/console`) at `/`: its files from a list made at start (never a path
 * taken from the request), and `index.html` for any other page a browser asks for, so the console's
 * own routes survive a reload. Never answers a reserved path. Returns null when the console is not built.
 */
export function consoleHandler(dir: string): RequestHandler | null {
  let index: Buffer;
  try {
    index = readFileSync(join(dir, 'index.html'));
  } catch {
    return null;
  }
  const assets = new Map<string, Asset>();
  const files = new Set(listFiles(dir));
  const copies = new Set(
    [...files].filter((f) =>
      ENCODINGS.some(({ suffix }) => f.endsWith(suffix) && files.has(f.slice(0, -suffix.length))),
    ),
  );
  for (const file of files) {
    const url = `/${relative(dir, file).split(sep).join('/')}`;
    // A compressed copy is sent in its original's place, never under its own name.
    if (url === '/index.html' || copies.has(file)) continue;
    const encoded: Asset['encoded'] = {};
    for (const { coding, suffix } of ENCODINGS)
      if (copies.has(`${file}${suffix}`)) {
        // The tag sendFile would make (size and time) could be that of another copy of the same file.
        const { size, mtimeMs } = statSync(`${file}${suffix}`);
        encoded[coding] = {
          file: `${file}${suffix}`,
          etag: `W/"${size.toString(16)}-${Math.floor(mtimeMs).toString(16)}-${coding}"`,
        };
      }
    assets.set(url, {
      file,
      type: TYPES[extname(file)] ?? 'application/octet-stream',
      immutable: url.startsWith('/assets/'),
      encoded,
    });
  }
  const sendIndex = (res: Response, head: boolean) => {
    res.status(200).set({
      'Content-Type': 'text/html; charset=utf-8',
      'Cache-Control': 'no-cache',
      'Content-Security-Policy': CONSOLE_CSP,
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      'X-Frame-Options': 'DENY',
    });
    if (head) res.end();
    else res.end(index);
  };
  return (req: Request, res: Response, next: NextFunction) => {
    if ((req.method !== 'GET' && req.method !== 'HEAD') || isReservedPath(req.path)) {
      next();
      return;
    }
    const asset = assets.get(req.path);
    if (asset !== undefined) {
      res.set({
        'Content-Type': asset.type,
        'Cache-Control': asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
        'X-Content-Type-Options': 'nosniff',
      });
      let file = asset.file;
      if (Object.keys(asset.encoded).length > 0) {
        // Caches must key the answer by the request's Accept-Encoding, whichever coding this one gets.
        res.set('Vary', 'Accept-Encoding');
        const accepted = acceptedCodings(req.headers['accept-encoding']);
        const best = ENCODINGS.find(
          ({ coding }) => accepted.has(coding) && asset.encoded[coding] !== undefined,
        );
        const copy = best === undefined ? undefined : asset.encoded[best.coding];
        if (best !== undefined && copy !== undefined) {
          res.set({ 'Content-Encoding': best.coding, ETag: copy.etag });
          file = copy.file;
        }
      }
      res.sendFile(file, (err) => {
        if (err === undefined || res.headersSent) return;
        // The error's answer is not the copy: it must not claim its coding or its tag.
        res.removeHeader('Content-Encoding');
        res.removeHeader('ETag');
        next(err);
      });
      return;
    }
    // A page of the console (no file extension) or any URL a browser opens as a document.
    const accept = req.headers.accept ?? '';
    if (req.path === '/' || extname(req.path) === '' || accept.includes('text/html')) {
      // An asset name that is not in the build (an old hash) is a 404, not the page.
      if (req.path.startsWith('/assets/')) {
        next();
        return;
      }
      sendIndex(res, req.method === 'HEAD');
      return;
    }
    next();
  };
}
