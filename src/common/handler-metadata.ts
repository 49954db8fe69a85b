import { ArgumentMetadata, PipeTransform, Type } from '@nestjs/common';
import {
  EXCEPTION_FILTERS_METADATA,
  GUARDS_METADATA,
  INTERCEPTORS_METADATA,
  PIPES_METADATA,
  REDIRECT_METADATA,
  SSE_METADATA,
} from '@nestjs/common/constants';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host';

/**
 * What the routes served outside Nest's router (the access fast path, the gateway's fast
 * route) read of a controller's decorators, from the same metadata Nest reads.
 */

/** One handler argument as Nest's parameter decorators record it (under ROUTE_ARGS_METADATA). */
export interface RouteArgument {
  index: number;
  data?: unknown;
  pipes?: (PipeTransform | Type<PipeTransform>)[];
  factory?: (data: unknown, context: ExecutionContextHost) => unknown;
}

/**
 * A pipe that can tell, without running, that it would return a value as it is (the global
 * StrictValidationPipe does, see common/validation.ts).
 */
export interface SelfSkippingPipe extends PipeTransform {
  returnsUnchanged(value: unknown, metadata: ArgumentMetadata): boolean;
}

export function skipsItself(pipe: PipeTransform): pipe is SelfSkippingPipe {
  return typeof (pipe as Partial<SelfSkippingPipe>).returnsUnchanged === 'function';
}

export function metadataOf<T>(key: string, target: object, property?: string): T | undefined {
  return (
    property === undefined
      ? Reflect.getMetadata(key, target)
      : Reflect.getMetadata(key, target, property)
  ) as T | undefined;
}

/** A route's URL from its global prefix, controller path and handler path. */
export function joinPath(...parts: (string | undefined)[]): string {
  const joined = parts
    .filter((p): p is string => p !== undefined && p !== '' && p !== '/')
    .map((p) => p.replace(/^\/+|\/+$/g, ''))
    .join('/');
  return `/${joined}`;
}

/**
 * Calls `refuse` with what a route served outside Nest's router would skip: a guard,
 * interceptor, @UsePipes or exception filter on the handler or its controller, a redirect
 * or an event stream.
 */
export function refuseSkippedEnhancers(
  controller: object,
  handler: object,
  refuse: (what: string) => never,
): void {
  for (const [key, what] of [
    [GUARDS_METADATA, 'has a guard'],
    [INTERCEPTORS_METADATA, 'has an interceptor'],
    [PIPES_METADATA, 'has @UsePipes'],
    [EXCEPTION_FILTERS_METADATA, 'has an exception filter'],
  ] as const) {
    if ((metadataOf<unknown[]>(key, handler)?.length ?? 0) > 0) {
      refuse(what);
    }
    if ((metadataOf<unknown[]>(key, controller)?.length ?? 0) > 0) {
      refuse(`is in a controller that ${what}`);
    }
  }
  if (metadataOf(REDIRECT_METADATA, handler) || metadataOf(SSE_METADATA, handler)) {
    refuse('redirects or streams events');
  }
}
