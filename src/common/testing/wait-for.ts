/**
 * Polls `check` until it returns true, failing with `what` after `timeoutMs`: the one condition wait of the unit
 * specs and (through test/support/wait.ts) the e2e tests. Assert on outcomes, never on how long they took.
 */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 3000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
