import { Controller, Get, Inject } from '@nestjs/common';
import type { Principal, WhoAmIView } from '#contracts';
import { openApiPath } from '../docs/openapi.js';
import { RouteDiscovery } from '../docs/route-discovery.js';
import { CurrentPrincipal, Roles } from './auth.js';

/** Who the caller is, so a client (the console) can shape itself to the token's role. */
@Controller('v1/me')
export class MeController {
  constructor(@Inject(RouteDiscovery) private readonly discovery: RouteDiscovery) {}

  @Get()
  @Roles('agent', 'analyst', 'admin')
  me(@CurrentPrincipal() principal: Principal): WhoAmIView {
    const permissions = this.discovery
      .routes()
      .filter((r) => r.access !== 'public' && r.access.includes(principal.role))
      .map((r) => `${r.method} ${openApiPath(r.path)}`);
    return {
      tokenId: principal.tokenId,
      name: principal.name,
      role: principal.role,
      agentId: principal.agentId ?? null,
      permissions,
    };
  }
}
