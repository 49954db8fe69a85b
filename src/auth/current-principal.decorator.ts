import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import { Principal } from './principal';

export const PRINCIPAL_KEY = 'principal';

/** The authenticated caller, set by the AuthGuard. */
export const CurrentPrincipal = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): Principal =>
    ctx.switchToHttp().getRequest<Record<string, Principal>>()[PRINCIPAL_KEY],
);
