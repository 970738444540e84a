import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { SpecimenError } from '#contracts';

/**
 * An enrolled agent that has not consented, or has withdrawn, is refused before its body is read (the
 * consent comes with the token lookup of AuthGuard, so this costs no query). People's tokens pass.
 */
@Injectable()
export class ConsentGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const principal = context.switchToHttp().getRequest<Request>().principal;
    if (principal?.agentId !== undefined && principal.participating !== true) {
      throw new SpecimenError(
        'CONSENT_REQUIRED',
        'this agent has not consented to send data: PUT /v1/agents/me/consent first',
      );
    }
    return true;
  }
}
