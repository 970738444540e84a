import { Controller, Get, HttpCode, Inject, Param, Post } from '@nestjs/common';
import type { Principal, TokenCreated, TokenView } from '#contracts';
import { CurrentPrincipal, Roles } from '../auth/auth.js';
import { TokensService } from './tokens.service.js';
import { JsonBody } from '../http/validation.js';

@Controller('v1/tokens')
export class TokensController {
  constructor(@Inject(TokensService) private readonly tokens: TokensService) {}

  /** `{name, role}` → the new token, shown once. */
  @Post()
  @Roles('admin')
  create(@JsonBody() body: unknown, @CurrentPrincipal() principal: Principal): Promise<TokenCreated> {
    return this.tokens.create(body, principal);
  }

  @Get()
  @Roles('admin')
  list(): Promise<{ items: TokenView[] }> {
    return this.tokens.list();
  }

  @Post(':id/revoke')
  @Roles('admin')
  @HttpCode(200)
  revoke(@Param('id') id: string, @CurrentPrincipal() principal: Principal): Promise<TokenView> {
    return this.tokens.revoke(id, principal);
  }
}
