import { Field, ID, InputType, ObjectType, registerEnumType } from '@nestjs/graphql';
import { GraphQLJSON } from '../json.scalar';

export enum SystemEventType {
  PROVIDER_HEALTH = 'PROVIDER_HEALTH',
  CIRCUIT_STATE_CHANGED = 'CIRCUIT_STATE_CHANGED',
  DEAD_LETTER = 'DEAD_LETTER',
  NODE_STARTED = 'NODE_STARTED',
  NODE_STOPPING = 'NODE_STOPPING',
}
registerEnumType(SystemEventType, { name: 'SystemEventType' });

export enum Severity {
  INFO = 'INFO',
  WARNING = 'WARNING',
  ERROR = 'ERROR',
  CRITICAL = 'CRITICAL',
}
registerEnumType(Severity, { name: 'Severity' });

@ObjectType({
  description:
    'An operational event from any node: PROVIDER_HEALTH (a refused configured key, its recovery), ' +
    'CIRCUIT_STATE_CHANGED (data {from, to, errorRate, retryAt}), DEAD_LETTER (data {deadLetterId, ' +
    'completionId, errorKind}), NODE_STARTED, NODE_STOPPING.',
})
export class SystemEvent {
  @Field(() => SystemEventType) eventType!: SystemEventType;
  @Field(() => Severity) severity!: Severity;
  @Field() message!: string;
  @Field(() => ID, { description: 'The node it happened on.' }) nodeId!: string;
  @Field(() => String, { nullable: true }) provider?: string | null;
  @Field(() => String, { nullable: true }) model?: string | null;
  @Field(() => GraphQLJSON, { nullable: true }) data?: Record<string, unknown> | null;
  @Field() timestamp!: Date;
}

@InputType({ description: 'Every given field must match; an empty or absent field matches everything.' })
export class EventFilter {
  @Field(() => [SystemEventType], { nullable: true }) eventTypes?: SystemEventType[];
  @Field(() => [Severity], { nullable: true }) severities?: Severity[];
  @Field(() => Severity, { nullable: true, description: 'This severity and those above it.' })
  minSeverity?: Severity;
  @Field(() => [String], { nullable: true }) providers?: string[];
}
