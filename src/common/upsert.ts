import {
  applyDecorators,
  CallHandler,
  ExecutionContext,
  Injectable,
  NestInterceptor,
  Type,
  UseInterceptors,
} from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse } from '@nestjs/swagger';
import { FastifyReply } from 'fastify';
import { map, Observable } from 'rxjs';
import { ApiProblems } from './api-docs';

/** What a service's idempotent PUT returns: the resource, and whether this call created it. */
export interface Upserted<T> {
  value: T;
  created: boolean;
}

/** Answers an `Upserted` with its value: 201 when the request created it, 200 otherwise. */
@Injectable()
class UpsertStatusInterceptor implements NestInterceptor<Upserted<unknown>, unknown> {
  intercept(context: ExecutionContext, next: CallHandler<Upserted<unknown>>): Observable<unknown> {
    return next.handle().pipe(
      map(({ value, created }) => {
        void context
          .switchToHttp()
          .getResponse<FastifyReply>()
          .status(created ? 201 : 200);
        return value;
      }),
    );
  }
}

/**
 * An idempotent PUT whose handler returns the service's `Upserted<T>`: the answer is the
 * resource, 201 when created and 200 when replaced (or already so), documented that way
 * with the 400 of an invalid body. `answers` names what 200 and 201 mean on this route.
 */
export function Upsert(
  type: Type,
  answers: { ok: string; created: string } = { ok: 'Replaced.', created: 'Created.' },
): MethodDecorator {
  return applyDecorators(
    UseInterceptors(UpsertStatusInterceptor),
    ApiOkResponse({ type, description: answers.ok }),
    ApiCreatedResponse({ type, description: answers.created }),
    ApiProblems(400),
  );
}
