// One harness run at a time per database: race, replay and verify hold a
// session-level advisory lock for their whole run. Their case checks are
// scoped to the run's own ids; the lock covers what no id can scope (the
// whole-table counts of ignored events and warm-ups), so two runs against
// one database wait for each other instead of failing each other.
import type pg from "pg";

/** An arbitrary constant: "dedupe" in ASCII, the harness's lock id in pg_locks. */
export const HARNESS_LOCK_KEY = 0x646564757065;

/**
 * Takes the lock on a connection of its own, polling (so Ctrl-C is never
 * stuck behind a blocking pg_advisory_lock); `onWait` is called once if
 * another run holds it. Resolves to the release function, or undefined if
 * `signal` aborted while waiting.
 */
export async function acquireHarnessLock(
  pool: pg.Pool,
  options: { onWait: (holderPid: number | null) => void; signal?: AbortSignal; pollMs?: number },
): Promise<(() => Promise<void>) | undefined> {
  const client = await pool.connect();
  let warned = false;
  try {
    for (;;) {
      const { rows } = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1::bigint) AS ok", [HARNESS_LOCK_KEY]);
      if (rows[0]!.ok) break;
      if (!warned) {
        warned = true;
        const holder = await client.query<{ pid: number }>(
          "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND ((classid::bigint << 32) | objid::bigint) = $1::bigint LIMIT 1",
          [HARNESS_LOCK_KEY],
        );
        options.onWait(holder.rows[0]?.pid ?? null);
      }
      if (options.signal?.aborted) {
        client.release();
        return undefined;
      }
      await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 250));
    }
  } catch (error) {
    client.release();
    throw error;
  }
  return async () => {
    await client.query("SELECT pg_advisory_unlock($1::bigint)", [HARNESS_LOCK_KEY]).catch(() => undefined);
    client.release();
  };
}
