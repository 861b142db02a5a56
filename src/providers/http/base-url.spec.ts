import type { ProviderType } from '../../config/app-config';
import { describeBaseUrl, normalizeBaseUrl } from './base-url';

describe('normalizeBaseUrl', () => {
  it.each<[ProviderType, string, string]>([
    ['anthropic', 'http://127.0.0.1:8080', 'http://127.0.0.1:8080/v1'],
    ['anthropic', 'http://127.0.0.1:8080/', 'http://127.0.0.1:8080/v1'],
    ['anthropic', 'https://api.anthropic.com/v1', 'https://api.anthropic.com/v1'],
    ['anthropic', 'https://api.anthropic.com/v1/', 'https://api.anthropic.com/v1'],
    ['anthropic', 'https://gw.example/anthropic', 'https://gw.example/anthropic/v1'],
    [
      'google',
      'https://generativelanguage.googleapis.com',
      'https://generativelanguage.googleapis.com/v1beta',
    ],
    [
      'google',
      'https://generativelanguage.googleapis.com/v1',
      'https://generativelanguage.googleapis.com/v1',
    ],
    [
      'google',
      'https://generativelanguage.googleapis.com/v1beta/',
      'https://generativelanguage.googleapis.com/v1beta',
    ],
    ['google', 'https://gw.example/gemini/v1alpha', 'https://gw.example/gemini/v1alpha'],
    ['openrouter', 'https://openrouter.ai', 'https://openrouter.ai/api/v1'],
    ['openrouter', 'https://openrouter.ai/api', 'https://openrouter.ai/api/v1'],
    ['openrouter', 'https://openrouter.ai/api/v1', 'https://openrouter.ai/api/v1'],
    ['openai', 'https://api.openai.com', 'https://api.openai.com/v1'],
    ['openai', 'https://api.openai.com/v1', 'https://api.openai.com/v1'],
    ['openai-compatible', 'http://127.0.0.1:8000', 'http://127.0.0.1:8000/v1'],
    ['openai-compatible', 'http://127.0.0.1:8000/v1/', 'http://127.0.0.1:8000/v1'],
    [
      'openai-compatible',
      'https://r.openai.azure.com/openai/deployments/gpt-4o',
      'https://r.openai.azure.com/openai/deployments/gpt-4o',
    ],
    ['ollama', 'http://127.0.0.1:11434', 'http://127.0.0.1:11434/'],
    ['ollama', 'http://127.0.0.1:11434/api', 'http://127.0.0.1:11434/'],
    ['ollama', 'http://127.0.0.1:11434/v1/', 'http://127.0.0.1:11434/'],
    ['ollama', 'http://proxy.example/ollama', 'http://proxy.example/ollama'],
  ])('%s %s -> %s', (type, raw, expected) => {
    expect(normalizeBaseUrl(type, raw).href).toBe(expected);
  });

  it('describes a base URL without credentials or query', () => {
    const url = normalizeBaseUrl('openai-compatible', 'https://user:pw@r.example/openai?api-key=k');
    expect(describeBaseUrl(url)).toBe('https://r.example/openai');
    expect(describeBaseUrl(normalizeBaseUrl('ollama', 'http://127.0.0.1:11434'))).toBe(
      'http://127.0.0.1:11434',
    );
    expect(describeBaseUrl(undefined)).toBeUndefined();
  });
});
