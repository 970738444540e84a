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
  /**
   * What `/v1/me` says of each role (its permissions, and the archives' password where it may download):
   * the routes are fixed once the app has started, so worked out once per role.
   */
  private readonly byRole = new Map<Role, Pick<WhoAmIView, 'permissions' | 'downloadPassword'>>();

  constructor(
    @Inject(RouteDiscovery) private readonly discovery: RouteDiscovery,
    @Inject(CONFIG) private readonly config: Config,
  ) {}

  private forRole(role: Role): Pick<WhoAmIView, 'permissions' | 'downloadPassword'> {
    let known = this.byRole.get(role);
    if (known === undefined) {
      const permissions = this.discovery
        .routes()
        .filter((r) => r.access !== 'public' && r.access.includes(role))
        .map((r) => `${r.method} ${openApiPath(r.path)}`);
      // The console shows it beside its download button: the one the archives are made with.
      const downloadPassword = permissions.includes(DOWNLOAD_ROUTE) ? this.config.download.zipPassword : null;
      known = { permissions, downloadPassword };
      this.byRole.set(role, known);
    }
    return known;
  }

  @Get()
  @Roles('agent', 'analyst', 'admin')
  me(@CurrentPrincipal() principal: Principal): WhoAmIView {
    return {
      tokenId: principal.tokenId,
      name: principal.name,
      role: principal.role,
      agentId: principal.agentId ?? null,
      ...this.forRole(principal.role),
    };
  }
}
