import {
  Body,
  Controller,
  Get,
  Injectable,
  NestInterceptor,
  Param,
  Post,
  Query,
  UseGuards,
  UseInterceptors,
  UsePipes,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { Public } from '../auth/access-level.decorators';
import { fastRoutesOf, FastPathMismatchError, GlobalEnhancers } from './access-fast-path';
import { AccessController } from './access.controller';
import { FastPath } from './fast-path.decorator';

const NONE: GlobalEnhancers = { guards: [], interceptors: [], filters: [], pipes: [] };

@Injectable()
class PassThrough implements NestInterceptor {
  intercept(_context: unknown, next: { handle(): unknown }) {
    return next.handle() as never;
  }
}

describe(fastRoutesOf.name, () => {
  const reflector = new Reflector();

  it('derives the access routes, their levels and arguments from AccessController', () => {
    const sut = fastRoutesOf(AccessController, reflector, NONE);
    expect(
      sut.map((r) => ({
        url: r.url,
        handler: r.handlerName,
        level: r.level,
        args: r.arguments.map((a) => `${a.metadata.type}:${a.metadata.data ?? ''}`),
        pipes: r.arguments.map((a) => a.pipes.length),
      })),
    ).toEqual([
      {
        url: '/api/v1/users/:id/models',
        handler: 'modelsOf',
        level: 'site_admin',
        args: ['param:id'],
        pipes: [1],
      },
      {
        url: '/api/v1/access/check',
        handler: 'check',
        level: 'site_admin',
        args: ['query:'],
        pipes: [1],
      },
      { url: '/v1/models', handler: 'openAi', level: 'gateway', args: ['custom:'], pipes: [0] },
    ]);
  });

  it('applies the global pipes before the parameter pipes, as Nest does', () => {
    const global = { transform: (v: unknown) => v };
    const [route] = fastRoutesOf(AccessController, reflector, { ...NONE, pipes: [global] });
    expect(route.arguments[0].pipes[0]).toBe(global);
    expect(route.arguments[0].pipes).toHaveLength(2);
  });

  it('refuses a global guard, interceptor or filter it would skip', () => {
    for (const globals of [
      { ...NONE, guards: [{}] },
      { ...NONE, interceptors: [new PassThrough()] },
      { ...NONE, filters: [{}] },
    ]) {
      expect(() => fastRoutesOf(AccessController, reflector, globals)).toThrow(
        FastPathMismatchError,
      );
    }
  });

  it('refuses a handler or controller with its own guard, interceptor or pipes', () => {
    @Controller()
    class Guarded {
      @Get('a')
      @FastPath()
      @Public()
      @UseGuards(class {})
      a(@Query() q: unknown) {
        return q;
      }
    }
    @Controller()
    @UseInterceptors(PassThrough)
    class Intercepted {
      @Get('b')
      @FastPath()
      @Public()
      b(@Param('id') id: string) {
        return id;
      }
    }
    @Controller()
    class Piped {
      @Get('c')
      @FastPath()
      @UsePipes(class {})
      c(@Param('id') id: string) {
        return id;
      }
    }
    for (const controller of [Guarded, Intercepted, Piped]) {
      expect(() => fastRoutesOf(controller, reflector, NONE)).toThrow(/would skip/);
    }
  });

  it('refuses what is not a GET route, and arguments it cannot read', () => {
    @Controller()
    class Posting {
      @Post('a')
      @FastPath()
      a(@Body() body: unknown) {
        return body;
      }
    }
    @Controller()
    class Undecorated {
      @Get('b')
      @FastPath()
      b(value: string) {
        return value;
      }
    }
    @Controller()
    class WithBody {
      @Get('c')
      @FastPath()
      c(@Body() body: unknown) {
        return body;
      }
    }
    expect(() => fastRoutesOf(Posting, reflector, NONE)).toThrow(/not a GET route/);
    expect(() => fastRoutesOf(Undecorated, reflector, NONE)).toThrow(/without a parameter/);
    expect(() => fastRoutesOf(WithBody, reflector, NONE)).toThrow(/reads BODY/);
  });

  it('leaves unmarked handlers to Nest', () => {
    @Controller('x')
    class Plain {
      @Get('a')
      a() {
        return 1;
      }
    }
    expect(fastRoutesOf(Plain, reflector, NONE)).toEqual([]);
  });
});
