import { Controller, Get, Inject } from '@nestjs/common';
import { CONFIG, type Config } from '#config';
import type { Principal, Role, WhoAmIView } from '#contracts';
import { openApiPath } from '../docs/openapi.js';
import { RouteDiscovery } from '../docs/route-discovery.js';
import { CurrentPrincipal, Roles } from './auth.js';

const DOWNLOAD_ROUTE = 'GET /v1/samples/{sha256}/download';

/** Who the caller is, so a client (the console) can shape itself to the token's role. */
@Controller('v1/me')
export class MeController {
  /** Each role's permissions: the routes are fixed once the app has started, so listed once per role. */
  private readonly permissions = new Map<Role, string[]>();

  constructor(
    @Inject(RouteDiscovery) private readonly discovery: RouteDiscovery,
    @Inject(CONFIG) private readonly config: Config,
  ) {}

  private permissionsOf(role: Role): string[] {
    let permissions = this.permissions.get(role);
    if (permissions === undefined) {
      permissions = this.discovery
        .routes()
        .filter((r) => r.access !== 'public' && r.access.includes(role))
        .map((r) => `${r.method} ${openApiPath(r.path)}`);
      this.permissions.set(role, permissions);
    }
    return permissions;
  }

  @Get()
  @Roles('agent', 'analyst', 'admin')
  me(@CurrentPrincipal() principal: Principal): WhoAmIView {
    const permissions = this.permissionsOf(principal.role);
    return {
      tokenId: principal.tokenId,
      name: principal.name,
      role: principal.role,
      agentId: principal.agentId ?? null,
      permissions,
      // The console shows it beside its download button: the one the archives are made with.
      downloadPassword: permissions.includes(DOWNLOAD_ROUTE) ? this.config.download.zipPassword : null,
    };
  }
}
