import { Injectable, type PipeTransform } from '@nestjs/common';
import { ChatCompletionRequestDto } from '../streaming/dto/chat-completion-request.dto';
import { validateChatRequest } from '../streaming/dto/validate-chat-request';
import { chatRequestFromQuery } from './chat-query';

/** Validates a JSON body as a Chat Completions request. */
@Injectable()
export class ChatBodyPipe implements PipeTransform<unknown, ChatCompletionRequestDto> {
  transform(value: unknown): ChatCompletionRequestDto {
    return validateChatRequest(value);
  }
}

/** Reads the EventSource query form, then validates it like a body. */
@Injectable()
export class ChatQueryPipe implements PipeTransform<
  Record<string, string | string[] | undefined>,
  ChatCompletionRequestDto
> {
  transform(query: Record<string, string | string[] | undefined>): ChatCompletionRequestDto {
    return validateChatRequest(chatRequestFromQuery(query));
  }
}
