import { Inject, Injectable, RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants.js';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import type { Role } from '#contracts';
import { routeAccess } from '../auth/auth.js';

/** A route the API serves: Express path template (`/v1/samples/:sha256`), method and who may call it. */
export interface ServedRoute {
  method: 'GET' | 'HEAD' | 'OPTIONS' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  access: Role[] | 'public';
}

const METHODS: Partial<Record<RequestMethod, ServedRoute['method']>> = {
  [RequestMethod.GET]: 'GET',
  [RequestMethod.POST]: 'POST',
  [RequestMethod.PUT]: 'PUT',
  [RequestMethod.PATCH]: 'PATCH',
  [RequestMethod.DELETE]: 'DELETE',
  // Only routes declared with @Head() or @Options() (tus): Express's implicit HEAD of a GET is not listed.
  [RequestMethod.HEAD]: 'HEAD',
  [RequestMethod.OPTIONS]: 'OPTIONS',
};

const joinPath = (...parts: unknown[]): string =>
  `/${parts
    .filter((p): p is string => typeof p === 'string')
    .flatMap((p) => p.split('/'))
    .filter((p) => p !== '')
    .join('/')}`;

/** Lists every route from Nest's controller metadata, so the API document cannot forget one. */
@Injectable()
export class RouteDiscovery {
  constructor(
    @Inject(DiscoveryService) private readonly discovery: DiscoveryService,
    @Inject(MetadataScanner) private readonly scanner: MetadataScanner,
    @Inject(Reflector) private readonly reflector: Reflector,
  ) {}

  routes(): ServedRoute[] {
    const routes: ServedRoute[] = [];
    for (const wrapper of this.discovery.getControllers()) {
      const instance: unknown = wrapper.instance;
      const metatype = wrapper.metatype as object | null;
      if (instance === null || typeof instance !== 'object' || metatype === null) continue;
      const base: unknown = Reflect.getMetadata(PATH_METADATA, metatype);
      const prototype = Object.getPrototypeOf(instance) as Record<string, unknown>;
      for (const name of this.scanner.getAllMethodNames(prototype)) {
        const handler = prototype[name];
        if (typeof handler !== 'function') continue;
        const path: unknown = Reflect.getMetadata(PATH_METADATA, handler);
        const requestMethod: unknown = Reflect.getMetadata(METHOD_METADATA, handler);
        if (path === undefined || typeof requestMethod !== 'number') continue;
        const method = METHODS[requestMethod as RequestMethod];
        if (method === undefined) continue;
        for (const p of Array.isArray(path) ? (path as unknown[]) : [path]) {
          routes.push({
            method,
            path: joinPath(Array.isArray(base) ? (base as unknown[])[0] : base, p),
            access: routeAccess(this.reflector, handler, metatype),
          });
        }
      }
    }
    return routes.sort((a, b) => a.path.localeCompare(b.path) || a.method.localeCompare(b.method));
  }
}
