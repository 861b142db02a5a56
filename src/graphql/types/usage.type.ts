import { Field, Int, ObjectType } from '@nestjs/graphql';

@ObjectType({ description: 'Token counts of a completion (the last provider that served it).' })
export class Usage {
  @Field(() => Int) promptTokens!: number;
  @Field(() => Int) completionTokens!: number;
  @Field(() => Int) totalTokens!: number;
  @Field(() => Int, {
    nullable: true,
    description: 'Part of completionTokens spent on reasoning, when reported.',
  })
  reasoningTokens?: number | null;
}
