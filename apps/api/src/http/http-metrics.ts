import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { SpecimenMetrics } from '#observability';
import { ROUTE_DOCS } from '../docs/route-docs.js';

/** Every route's template as a pattern, by method: `/v1/samples/:sha256` matches `/v1/samples/275a…`. */
const TEMPLATES: ReadonlyMap<string, ReadonlyArray<{ template: string; pattern: RegExp }>> = (() => {
  const byMethod = new Map<string, Array<{ template: string; pattern: RegExp }>>();
  for (const key of Object.keys(ROUTE_DOCS)) {
    const [method = '', template = ''] = key.split(' ');
    const source = template
      .split('/')
      .map((part) => (part.startsWith(':') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('/');
    const list = byMethod.get(method) ?? [];
    list.push({ template, pattern: new RegExp(`^${source}$`) });
    byMethod.set(method, list);
  }
  return byMethod;
})();

/**
 * The template of a request refused before routing (a body the JSON parser refused), from the routes'
 * table: Express sets `req.route` only for a request that reached its route.
 */
export function templateOf(method: string, path: string): string | undefined {
  const find = (m: string) => TEMPLATES.get(m)?.find((t) => t.pattern.test(path))?.template;
  // Express answers HEAD with the GET route where there is no HEAD route of its own.
  return find(method) ?? (method === 'HEAD' ? find('GET') : undefined);
}

/**
 * Times every request and records it under its route template (`/v1/samples/:sha256`), read from the
 * Express route that matched once the response is finished; requests that matched no route share one
 * label so scanners probing random URLs cannot blow up the series count.
 */
export function httpMetrics(metrics: SpecimenMetrics): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const end = metrics.httpDuration.startTimer();
    let done = false;
    const record = () => {
      if (done) return;
      done = true;
      const matched: unknown = (req.route as { path?: unknown } | undefined)?.path;
      const route =
        req.route === undefined
          ? templateOf(req.method, req.path)
          : typeof matched === 'string'
            ? matched
            : undefined;
      end({
        method: req.method,
        // Nest answers unknown URLs from a catch-all route (`{/*splat}`): that is no template either.
        route: route !== undefined && !route.includes('*') ? route : 'unmatched',
        status: res.headersSent || res.writableFinished ? String(res.statusCode) : '499',
      });
    };
    res.once('finish', record);
    res.once('close', record);
    next();
  };
}
