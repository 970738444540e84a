import { Body, Controller, Inject, Post } from '@nestjs/common';
import type { Principal, TokenCreated } from '#contracts';
import { CurrentPrincipal, Roles } from '../auth/auth.js';
import { TokensService } from './tokens.service.js';

@Controller('v1/tokens')
export class TokensController {
  constructor(@Inject(TokensService) private readonly tokens: TokensService) {}

  /** `{name, role}` → the new token, shown once. */
  @Post()
  @Roles('admin')
  create(@Body() body: unknown, @CurrentPrincipal() principal: Principal): Promise<TokenCreated> {
    return this.tokens.create(body, principal);
  }
}
