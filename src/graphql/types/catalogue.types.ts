import { Field, Float, ID, Int, ObjectType, registerEnumType } from '@nestjs/graphql';

export enum CircuitState {
  CLOSED = 'CLOSED',
  OPEN = 'OPEN',
  HALF_OPEN = 'HALF_OPEN',
}
registerEnumType(CircuitState, { name: 'CircuitState' });

@ObjectType()
export class ModelPricing {
  @Field(() => Float, { description: 'USD per million prompt tokens.' }) prompt!: number;
  @Field(() => Float, { description: 'USD per million completion tokens.' }) completion!: number;
}

@ObjectType({ description: 'A catalogue model, or a virtual model (a routed set of models).' })
export class Model {
  @Field(() => ID) id!: string;
  @Field({ description: 'The provider serving it; circuit-breaker for virtual models.' }) ownedBy!: string;
  @Field(() => [String]) aliases!: string[];
  @Field(() => Int, { nullable: true }) contextLength?: number | null;
  @Field(() => ModelPricing, { nullable: true }) pricing?: ModelPricing | null;
  @Field() virtual!: boolean;
  @Field(() => String, { nullable: true, description: 'Virtual models: the routing strategy.' })
  strategy?: string | null;
  @Field(() => [String], { nullable: true, description: 'Virtual models: the models it orders.' })
  members?: string[] | null;
  @Field(() => [String], { description: 'Configured fallbacks, tried in order.' }) fallbacks!: string[];
  @Field(() => String, { nullable: true }) description?: string | null;
}

@ObjectType({ description: 'A provider+model circuit breaker, shared by every node through Redis.' })
export class Circuit {
  @Field() model!: string;
  @Field(() => CircuitState) state!: CircuitState;
  @Field(() => Int) requests!: number;
  @Field(() => Int) failures!: number;
  @Field(() => Float, { description: 'Failures in % of requests over the window.' }) errorRate!: number;
  @Field(() => Date, { nullable: true }) openedAt?: Date | null;
  @Field(() => Date, { nullable: true }) retryAt?: Date | null;
}

@ObjectType()
export class ProviderLatency {
  @Field() model!: string;
  @Field(() => Float, { description: 'Moving average of time to first token on this node, ms.' })
  ttftMs!: number;
  @Field(() => Int) samples!: number;
}

@ObjectType()
export class Provider {
  @Field(() => ID) id!: string;
  @Field({ description: 'The adapter: openai, anthropic, google, ollama, openai-compatible, simulated...' })
  type!: string;
  @Field({
    description: 'It has what it needs (a key, a base URL) to serve without the caller bringing a key.',
  })
  configured!: boolean;
  @Field({ description: 'Configured, its key not refused, and none of its circuits open.' })
  healthy!: boolean;
  @Field(() => String, { nullable: true, description: 'Why the vendor refused its configured key.' })
  misconfigured?: string | null;
  @Field(() => [Circuit], { description: 'Circuits that have seen traffic (absent ones are closed).' })
  circuits!: Circuit[];
  @Field(() => [ProviderLatency]) latency!: ProviderLatency[];
}
