import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { SpecimenMetrics } from '#observability';

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
      const route: unknown = (req.route as { path?: unknown } | undefined)?.path;
      end({
        method: req.method,
        // Nest answers unknown URLs from a catch-all route (`{/*splat}`): that is no template either.
        route: typeof route === 'string' && !route.includes('*') ? route : 'unmatched',
        status: res.headersSent || res.writableFinished ? String(res.statusCode) : '499',
      });
    };
    res.once('finish', record);
    res.once('close', record);
    next();
  };
}
