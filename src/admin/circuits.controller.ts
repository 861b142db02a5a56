import { Body, Controller, Get, HttpCode, Post, Query } from '@nestjs/common';
import { AdminOnly } from '../auth/access.decorators';
import { CompletionError, RequestErrorCode } from '../contract/error-code';
import { isObject } from '../common/is-object';
import {
  CIRCUIT_STATES,
  CircuitBreakerService,
  type CircuitState,
  type CircuitView,
  isCircuitState,
} from '../routing/circuit-breaker.service';

/** The circuits of every provider and model as Redis knows them (`GET`), and forcing one closed (`reset`). */
@Controller('admin/circuits')
@AdminOnly()
export class CircuitsController {
  constructor(private readonly circuits: CircuitBreakerService) {}

  @Get()
  async list(@Query('state') state?: unknown): Promise<{ data: CircuitView[] }> {
    const wanted = wantedState(state);
    const all = await this.circuits.list();
    return { data: wanted ? all.filter((c) => c.state === wanted) : all };
  }

  @Post('reset')
  @HttpCode(200)
  async reset(@Body() body: unknown): Promise<{ data: CircuitView }> {
    const { provider, model } = circuitRef(body);
    const view = await this.circuits.reset(provider, model);
    if (!view) throw new CompletionError(RequestErrorCode.NotFound, `No circuit for ${provider} ${model}.`);
    return { data: view };
  }
}

function wantedState(state: unknown): CircuitState | undefined {
  if (state === undefined || isCircuitState(state)) return state;
  throw new CompletionError(
    RequestErrorCode.InvalidRequest,
    `'state' must be one of ${CIRCUIT_STATES.join(', ')}.`,
    { param: 'state' },
  );
}

/** `{ provider, model }`, both non-empty strings. */
function circuitRef(body: unknown): { provider: string; model: string } {
  if (!isObject(body)) {
    throw new CompletionError(RequestErrorCode.InvalidRequest, 'The request body must be a JSON object.');
  }
  return { provider: nonEmpty(body, 'provider'), model: nonEmpty(body, 'model') };
}

function nonEmpty(body: Record<string, unknown>, param: string): string {
  const value = body[param];
  if (typeof value === 'string' && value !== '') return value;
  throw new CompletionError(RequestErrorCode.InvalidRequest, `'${param}' must be a non-empty string.`, {
    param,
  });
}
