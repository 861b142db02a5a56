import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Controller, Get, type Type } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { Reflector } from '@nestjs/core';
import { RESOLVER_TYPE_METADATA } from '@nestjs/graphql/dist/graphql.constants';
import { Query, Resolver } from '@nestjs/graphql';
import { type AccessRule, accessRuleOf, Public, Requires } from './access.decorators';

type Handler = (...args: unknown[]) => unknown;
type HandlerClass = Type<unknown>;

const SRC = join(__dirname, '..');
const reflector = new Reflector();

/** Every file under src/ whose name says it holds protocol edges (controllers and resolvers). */
function edgeFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return edgeFiles(path);
    return /\.(controller|resolver)\.ts$/.test(entry.name) ? [path] : [];
  });
}

/** The request handlers of a class: REST routes and GraphQL root fields (own and inherited). */
function handlersOf(type: HandlerClass): Array<{ name: string; handler: Handler }> {
  const found = new Map<string, Handler>();
  for (let proto = type.prototype as object | null; proto && proto !== Object.prototype;) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      const value = (proto as Record<string, unknown>)[name];
      if (name === 'constructor' || typeof value !== 'function' || found.has(name)) continue;
      const handler = value as Handler;
      const route = Reflect.getMetadata(METHOD_METADATA, handler) !== undefined;
      const field = Reflect.getMetadata(RESOLVER_TYPE_METADATA, handler) !== undefined;
      if (route || field) found.set(name, handler);
    }
    proto = Object.getPrototypeOf(proto) as object | null;
  }
  return [...found].map(([name, handler]) => ({ name, handler }));
}

function isEdgeClass(value: unknown): value is HandlerClass {
  return (
    typeof value === 'function' &&
    (Reflect.getMetadata(PATH_METADATA, value) !== undefined ||
      Reflect.getMetadata('graphql:resolver_type', value) !== undefined ||
      handlersOf(value as HandlerClass).length > 0)
  );
}

/** `file#Class.method` of every handler without an access rule. */
function unguarded(classes: Array<{ file: string; type: HandlerClass }>): string[] {
  return classes.flatMap(({ file, type }) =>
    handlersOf(type)
      .filter(({ handler }) => accessRuleOf(reflector, handler, type) === undefined)
      .map(({ name }) => `${file}#${type.name}.${name}`),
  );
}

describe('access rules', () => {
  const classes = edgeFiles(SRC).flatMap((file) =>
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the files are found at run time
    Object.values(require(file) as Record<string, unknown>)
      .filter(isEdgeClass)
      .map((type) => ({ file: relative(SRC, file), type })),
  );

  it('finds the edges (so that an empty scan cannot pass)', () => {
    const names = classes.map((c) => c.type.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'ChatCompletionsController',
        'ModelsController',
        'WorkflowsController',
        'WorkflowRunsController',
        'DeadLettersController',
        'RevocationsController',
        'CircuitsController',
        'RoutingAdminController',
        'HealthController',
        'MetricsController',
        'CompletionsResolver',
        'CatalogueResolver',
        'EventsResolver',
        'WorkflowsResolver',
      ]),
    );
    expect(classes.flatMap((c) => handlersOf(c.type)).length).toBeGreaterThan(30);
  });

  it('gives every REST handler and GraphQL root field an access rule', () => {
    expect(unguarded(classes)).toEqual([]);
  });

  it('reports a handler left without a rule', () => {
    @Controller('open')
    class Forgotten {
      @Get()
      list(): string[] {
        return [];
      }

      @Get('x')
      @Public()
      fine(): string {
        return 'x';
      }
    }
    @Resolver()
    class ForgottenResolver {
      @Query(() => String)
      secret(): string {
        return 's';
      }
    }
    expect(
      unguarded([
        { file: 'here', type: Forgotten },
        { file: 'here', type: ForgottenResolver },
      ]),
    ).toEqual(['here#Forgotten.list', 'here#ForgottenResolver.secret']);
  });

  it('keeps /admin for the admin role and health and metrics public', () => {
    const ruleOf = (name: string, method: string): AccessRule | undefined => {
      const type = classes.find((c) => c.type.name === name)!.type;
      const handler = handlersOf(type).find((h) => h.name === method)!.handler;
      return accessRuleOf(reflector, handler, type);
    };
    for (const name of ['DeadLettersController', 'CircuitsController', 'RoutingAdminController']) {
      const type = classes.find((c) => c.type.name === name)!.type;
      for (const { handler } of handlersOf(type)) {
        expect(accessRuleOf(reflector, handler, type)).toEqual({ kind: 'admin' });
      }
    }
    expect(ruleOf('HealthController', 'ready')).toEqual({ kind: 'public' });
    expect(ruleOf('MetricsController', 'index')).toEqual({ kind: 'public' });
    expect(ruleOf('ChatCompletionsController', 'create')).toEqual({
      kind: 'stream',
      type: 'completion',
      access: 'write',
    });
  });

  it('lets a method rule override its class rule', () => {
    @Controller('mixed')
    @Public()
    class Mixed {
      @Get()
      @Requires('system', 'read')
      get(): string {
        return '';
      }
    }
    expect(unguarded([{ file: 'here', type: Mixed }])).toEqual([]);
    expect(accessRuleOf(reflector, handlersOf(Mixed)[0]!.handler, Mixed)).toEqual({
      kind: 'stream',
      type: 'system',
      access: 'read',
    });
  });
});
