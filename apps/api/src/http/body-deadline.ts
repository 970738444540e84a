import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { sendError } from './exception.filter.js';
import { smallJsonType } from './large-json.js';

/**
 * A small JSON body must arrive within `ms` of its headers: the answer is then 408 `REQUEST_TIMEOUT` and the
 * connection is closed. The server has no overall request deadline (requestTimeout is off so that uploads
 * may take as long as bytes keep moving), and some routes read their body before any token check
 * (enrollment carries its token in the body): without this, a client sending a byte every two minutes
 * (under the idle timeout) held a connection and a parser open for as long as it liked. Uploads and the
 * rule-source routes (parsed after authentication) have their own limits.
 */
export function jsonBodyDeadline(ms: number): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const length = req.headers['content-length'];
    const hasBody =
      req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
    if (!hasBody || !smallJsonType(req)) {
      next();
      return;
    }
    const timer = setTimeout(() => {
      if (req.complete || res.headersSent) return;
      res.setHeader('Connection', 'close');
      sendError(res, 'REQUEST_TIMEOUT', `the JSON body did not arrive within ${ms} ms of its headers`, {
        timeoutMs: ms,
      });
      // What the client still sends is not read: the connection ends once the answer is out.
      res.once('finish', () => req.socket.destroy());
    }, ms);
    timer.unref();
    const done = () => clearTimeout(timer);
    req.once('end', done);
    req.once('close', done);
    res.once('close', done);
    next();
  };
}
