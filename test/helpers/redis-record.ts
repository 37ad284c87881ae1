/**
 * Counts the commands a Redis storage sends, on its own client: every `call` / `callBuffer` (the
 * storages send nothing else outside batched refreshes). Unlike `MONITOR` on the shared server,
 * this is not disturbed by other test runs' traffic (ioredis's monitor connection can fail with
 * "Command queue state error" when the shared server is busy).
 */
import type { Redis } from 'ioredis';

/** Records every command sent on `client` (lower-cased name, then its arguments as text). */
export function recordCommands(client: Redis): { take(): string[][] } {
  let seen: string[][] = [];
  for (const method of ['call', 'callBuffer'] as const) {
    const original = client[method].bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
      seen.push(args.map((a, i) => (i === 0 ? String(a).toLowerCase() : String(a))));
      return original(...args);
    };
  }
  return {
    /** The commands recorded since the last call. */
    take() {
      const taken = seen;
      seen = [];
      return taken;
    },
  };
}
