import { Injectable, type PipeTransform } from '@nestjs/common';
import type { ChatCompletionRequest } from '../contract/chat-request';
import { validateChatRequest } from '../streaming/dto/validate-chat-request';
import { chatRequestFromQuery } from './chat-query';

/** Validates a JSON body as a Chat Completions request. */
@Injectable()
export class ChatBodyPipe implements PipeTransform<unknown, ChatCompletionRequest> {
  transform(value: unknown): ChatCompletionRequest {
    return validateChatRequest(value);
  }
}

/** Reads the EventSource query form, then validates it like a body. */
@Injectable()
export class ChatQueryPipe implements PipeTransform<
  Record<string, string | string[] | undefined>,
  ChatCompletionRequest
> {
  transform(query: Record<string, string | string[] | undefined>): ChatCompletionRequest {
    return validateChatRequest(chatRequestFromQuery(query));
  }
}
