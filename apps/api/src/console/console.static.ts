import { readFileSync, readdirSync } from 'node:fs';
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

interface Asset {
  file: string;
  type: string;
  /** Vite names the files under assets/ by their content hash: they never change under one name. */
  immutable: boolean;
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
  for (const file of listFiles(dir)) {
    const url = `/${relative(dir, file).split(sep).join('/')}`;
    if (url === '/index.html') continue;
    assets.set(url, {
      file,
      type: TYPES[extname(file)] ?? 'application/octet-stream',
      immutable: url.startsWith('/assets/'),
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
      res.sendFile(asset.file, (err) => {
        if (err !== undefined && !res.headersSent) next(err);
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
