import { createHash, randomBytes } from 'node:crypto';
import {
  type CanActivate,
  type ExecutionContext,
  Inject,
  Injectable,
  SetMetadata,
  createParamDecorator,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { type Principal, type Role, SpecimenError } from '#contracts';
import type { Submitter } from '#database';
import { PrincipalsService } from './principals.service.js';

declare module 'express' {
  interface Request {
    principal?: Principal;
  }
}

const ROLES_KEY = 'specimen:roles';
/** Roles allowed on a route; a route without it is refused (deny by default). */
export const Roles = (...roles: Role[]) => SetMetadata(ROLES_KEY, roles);
const PUBLIC_KEY = 'specimen:public';
/** Marks a route that needs no token (health). */
export const Public = () => SetMetadata(PUBLIC_KEY, true);

/** Who may call a route, from its decorators: `public`, or the roles allowed (empty: nobody). */
export function routeAccess(reflector: Reflector, handler: object, controller: object): Role[] | 'public' {
  const targets = [handler, controller] as Parameters<Reflector['getAllAndOverride']>[1];
  if (reflector.getAllAndOverride<boolean>(PUBLIC_KEY, targets) === true) return 'public';
  return reflector.getAllAndOverride<Role[] | undefined>(ROLES_KEY, targets) ?? [];
}

/** The authenticated caller, as set by {@link AuthGuard}. */
export const CurrentPrincipal = createParamDecorator((_: unknown, ctx: ExecutionContext): Principal => {
  const principal = ctx.switchToHttp().getRequest<Request>().principal;
  if (principal === undefined) throw new SpecimenError('UNAUTHENTICATED', 'a bearer token is required');
  return principal;
});

/** Secrets are stored as their sha256: a leaked table gives no usable token. */
export const hashToken = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');
export const newToken = (prefix = 'spk'): string => `${prefix}_${randomBytes(32).toString('base64url')}`;

/**
 * Bearer-token authentication and role check. Guards run before interceptors, so an upload from an
 * unknown or unauthorised caller is refused before multer reads a byte of its body.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  /**
   * Each route's access by controller and handler (a handler may be inherited by several controllers),
   * read from the decorators once: metadata does not change after start-up.
   */
  private readonly access = new WeakMap<object, Map<object, Role[] | 'public'>>();

  constructor(
    @Inject(Reflector) private readonly reflector: Reflector,
    @Inject(PrincipalsService) private readonly principals: PrincipalsService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const handler = context.getHandler();
    const controller = context.getClass();
    let routes = this.access.get(controller);
    if (routes === undefined) {
      routes = new Map();
      this.access.set(controller, routes);
    }
    let access = routes.get(handler);
    if (access === undefined) {
      access = routeAccess(this.reflector, handler, controller);
      routes.set(handler, access);
    }
    if (access === 'public') return true;
    const req = context.switchToHttp().getRequest<Request>();
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (match?.[1] === undefined) throw new SpecimenError('UNAUTHENTICATED', 'a bearer token is required');
    const principal = await this.principals.resolve(hashToken(match[1]));
    if (principal === null) throw new SpecimenError('UNAUTHENTICATED', 'the token is unknown or revoked');
    req.principal = principal;
    if (!access.includes(principal.role)) {
      throw new SpecimenError('FORBIDDEN', `the ${principal.role} role may not do this`, { allowed: access });
    }
    return true;
  }
}

/** How a submission stores its sender: the caller's pseudonym and, for an agent, its country and product. */
export const submitterOf = (principal: Principal): Submitter => ({
  pseudonym: principal.pseudonym,
  country: principal.country ?? null,
  productVersion: principal.productVersion ?? null,
});
