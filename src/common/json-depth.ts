/**
 * The deepest a JSON value from a client may nest (objects and arrays): far beyond any real request (a chat
 * request with nested tool schemas stays under 30), well below what recursive code (class-transformer, the
 * sanitizer, JSON.stringify of a copy) can take without a stack overflow.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * Whether `value` nests deeper than `max` levels (a scalar is depth 0, `{}` and `[]` are 1). Iterative, so a
 * hostile value cannot overflow the stack here; it stops at the first path that is too deep.
 */
export function nestsDeeperThan(value: unknown, max = MAX_JSON_DEPTH): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const stack: unknown[] = [value];
  const depths: number[] = [1];
  while (stack.length > 0) {
    const current = stack.pop() as object;
    const depth = depths.pop()!;
    if (depth > max) return true;
    const children = Array.isArray(current) ? (current as unknown[]) : Object.values(current);
    for (const child of children) {
      if (typeof child === 'object' && child !== null) {
        stack.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return false;
}
