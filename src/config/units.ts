/**
 * Human-friendly units in configuration: durations (`100ms`, `30s`, `5m`, `1h`) and sizes (`512B`, `64KB`,
 * `10MB`, `1GB`). Sizes are binary (1KB = 1024 bytes). A bare number is milliseconds or bytes.
 */

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/i;
const SIZE = /^(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?$/i;

const DURATION_FACTORS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
const SIZE_FACTORS: Record<string, number> = {
  b: 1,
  kb: 1024,
  kib: 1024,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

/** Milliseconds, or undefined when the value is not a duration. */
export function parseDuration(value: unknown): number | undefined {
  return parseWithUnits(value, DURATION, DURATION_FACTORS, 'ms');
}

/** Bytes, or undefined when the value is not a size. */
export function parseSize(value: unknown): number | undefined {
  return parseWithUnits(value, SIZE, SIZE_FACTORS, 'b');
}

function parseWithUnits(
  value: unknown,
  pattern: RegExp,
  factors: Record<string, number>,
  defaultUnit: string,
): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const match = pattern.exec(value.trim());
  if (!match) return undefined;
  const factor = factors[(match[2] ?? defaultUnit).toLowerCase()];
  if (factor === undefined) return undefined;
  return Math.round(Number(match[1]) * factor);
}
