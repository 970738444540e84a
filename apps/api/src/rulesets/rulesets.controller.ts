import { Controller, Get, HttpCode, Inject, Param, Patch, Post, UseInterceptors } from '@nestjs/common';
import type {
  Principal,
  RuleStateChanged,
  RulesetCreated,
  RulesetSummaryView,
  RulesetView,
} from '#contracts';
import { CurrentPrincipal, Roles } from '../auth/auth.js';
import { LargeJsonBody } from '../http/large-json.js';
import { RulesetsService } from './rulesets.service.js';
import { JsonBody } from '../http/validation.js';

@Controller('v1/rulesets')
export class RulesetsController {
  constructor(@Inject(RulesetsService) private readonly rulesets: RulesetsService) {}

  /** `{name, source}` → version N+1 of `name`, in staging. */
  @Post()
  @Roles('analyst', 'admin')
  @UseInterceptors(LargeJsonBody)
  create(@JsonBody() body: unknown, @CurrentPrincipal() principal: Principal): Promise<RulesetCreated> {
    return this.rulesets.create(body, principal);
  }

  @Get()
  @Roles('analyst', 'admin')
  list(): Promise<RulesetSummaryView[]> {
    return this.rulesets.list();
  }

  @Get(':id')
  @Roles('analyst', 'admin')
  find(@Param('id') id: string): Promise<RulesetView> {
    return this.rulesets.find(id);
  }

  /** Optional body `{retroscan: true}`: also rescan every stored sample with low priority. */
  @Post(':id/activate')
  @HttpCode(200)
  @Roles('admin')
  activate(
    @Param('id') id: string,
    @JsonBody() body: unknown,
    @CurrentPrincipal() principal: Principal,
  ): Promise<RulesetSummaryView> {
    return this.rulesets.activate(id, body, principal);
  }

  /** `{state: 'enabled' | 'disabled' | 'noisy', rescan?}` for one rule of a version. */
  @Patch(':id/rules/:rule')
  @Roles('analyst', 'admin')
  setRuleState(
    @Param('id') id: string,
    @Param('rule') rule: string,
    @JsonBody() body: unknown,
    @CurrentPrincipal() principal: Principal,
  ): Promise<RuleStateChanged> {
    return this.rulesets.setRuleState(id, rule, body, principal);
  }
}
