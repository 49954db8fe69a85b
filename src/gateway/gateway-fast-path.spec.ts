import { PipeTransform } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { createValidationPipe } from '../common/validation';
import { gatewayFastRoutes, GatewayFastPathMismatchError } from './gateway-fast-path';

describe(gatewayFastRoutes.name, () => {
  const reflector = new Reflector();

  it("derives the three model calls from GatewayController's decorators", () => {
    const sut = gatewayFastRoutes(reflector, { extra: [], pipes: [createValidationPipe()] });
    expect(sut.map((r) => [r.url, r.handlerName, r.level])).toEqual([
      ['/v1/chat/completions', 'chat', 'gateway'],
      ['/v1/completions', 'completion', 'gateway'],
      ['/v1/embeddings', 'embeddings', 'gateway'],
    ]);
    expect(sut[0].arguments.map((a) => a.kind)).toEqual(['custom', 'request', 'reply']);
  });

  it('puts the global prefix in front of the routes', () => {
    const sut = gatewayFastRoutes(reflector, { extra: [], pipes: [] }, 'api');
    expect(sut[0].url).toBe('/api/v1/chat/completions');
  });

  it('refuses an application with an enhancer it would skip', () => {
    expect(() =>
      gatewayFastRoutes(reflector, { extra: ['a global interceptor'], pipes: [] }),
    ).toThrow(GatewayFastPathMismatchError);
  });

  it('refuses a global pipe that cannot vouch for leaving the principal unchanged', () => {
    const transforming: PipeTransform = { transform: (value: unknown) => value };
    expect(() => gatewayFastRoutes(reflector, { extra: [], pipes: [transforming] })).toThrow(
      /may transform/,
    );
  });
});
