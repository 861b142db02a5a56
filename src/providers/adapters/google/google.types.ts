/**
 * The Google Gemini API (`generativelanguage.googleapis.com/v1beta`) wire shapes the adapter writes and reads:
 * `models/{model}:generateContent` and `:streamGenerateContent?alt=sse`.
 */

// ---- Request ----

export interface GeminiInlineData {
  mimeType: string;
  /** Base64. */
  data: string;
}

export interface GeminiFileData {
  fileUri: string;
  mimeType?: string;
}

export interface GeminiFunctionCall {
  /** Sent by some models and the Live API; usually absent. */
  id?: string;
  name: string;
  args?: Record<string, unknown>;
}

export interface GeminiFunctionResponse {
  name: string;
  response: Record<string, unknown>;
}

/** One part of a content; exactly one of the data fields is set. */
export interface GeminiPart {
  text?: string;
  /** Set on thought-summary text parts when `includeThoughts` is on. */
  thought?: boolean;
  /** An opaque signature of the model's thinking, attached to some parts; not used here. */
  thoughtSignature?: string;
  inlineData?: GeminiInlineData;
  fileData?: GeminiFileData;
  functionCall?: GeminiFunctionCall;
  functionResponse?: GeminiFunctionResponse;
}

export type GeminiRole = 'user' | 'model';

export interface GeminiContent {
  role: GeminiRole;
  parts: GeminiPart[];
}

/** The OpenAPI-subset schema Gemini accepts for function parameters. */
export type GeminiSchema = Record<string, unknown>;

export interface GeminiFunctionDeclaration {
  name: string;
  description?: string;
  parameters?: GeminiSchema;
}

export interface GeminiTool {
  functionDeclarations: GeminiFunctionDeclaration[];
}

export interface GeminiToolConfig {
  functionCallingConfig: { mode: 'AUTO' | 'ANY' | 'NONE'; allowedFunctionNames?: string[] };
}

export interface GeminiThinkingConfig {
  thinkingBudget?: number;
  includeThoughts?: boolean;
}

export interface GeminiGenerationConfig {
  temperature?: number;
  topP?: number;
  maxOutputTokens?: number;
  stopSequences?: string[];
  seed?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  responseMimeType?: string;
  responseJsonSchema?: Record<string, unknown>;
  thinkingConfig?: GeminiThinkingConfig;
}

export interface GeminiRequest {
  contents: GeminiContent[];
  systemInstruction?: { parts: Array<{ text: string }> };
  tools?: GeminiTool[];
  toolConfig?: GeminiToolConfig;
  generationConfig?: GeminiGenerationConfig;
}

// ---- Response ----

export interface GeminiUsageMetadata {
  promptTokenCount?: number;
  candidatesTokenCount?: number;
  thoughtsTokenCount?: number;
  totalTokenCount?: number;
  cachedContentTokenCount?: number;
  toolUsePromptTokenCount?: number;
}

export interface GeminiCandidate {
  content?: { role?: string; parts?: GeminiPart[] };
  /** `STOP`, `MAX_TOKENS`, `SAFETY`, `RECITATION`, `OTHER`, `BLOCKLIST`, `PROHIBITED_CONTENT`, `SPII`,
   * `MALFORMED_FUNCTION_CALL`, `IMAGE_SAFETY`...; absent until the candidate is finished. */
  finishReason?: string;
  index?: number;
}

/** One `google.rpc.Status` detail; `@type` says which. */
export interface GeminiErrorDetail {
  '@type'?: string;
  /** google.rpc.RetryInfo: a protobuf Duration such as `"22s"`. */
  retryDelay?: string;
  /** google.rpc.ErrorInfo: e.g. `API_KEY_INVALID`. */
  reason?: string;
  domain?: string;
}

/** The error object of an HTTP error body, or of an error frame inside a stream (a google.rpc.Status). */
export interface GeminiErrorObject {
  /** The HTTP status. */
  code?: number;
  message?: string;
  /** The canonical code: `INVALID_ARGUMENT`, `RESOURCE_EXHAUSTED`, `UNAVAILABLE`... */
  status?: string;
  details?: GeminiErrorDetail[];
}

/** A GenerateContentResponse: the whole answer, or (streaming) each SSE frame's data. */
export interface GeminiResponse {
  candidates?: GeminiCandidate[];
  promptFeedback?: { blockReason?: string };
  usageMetadata?: GeminiUsageMetadata;
  modelVersion?: string;
  responseId?: string;
  error?: GeminiErrorObject;
}
