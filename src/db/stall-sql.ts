// A write stall on one table: an EXCLUSIVE lock (reads go on, writes wait)
// held in a transaction of its own. The harness uses it on the receiver's
// messages table during some rounds, so an insert outlasts any short lease
// or lock a receiver wraps around a check-then-create (see STALL_MS in
// src/harness/schedule.ts).
//
// It is released once writers contend, not after a fixed time: a fixed
// 100 ms ran out before a loaded machine's deliveries reached the database
// (p50 326 ms in a full-suite run), and check-then-create passed. Held until
// two sessions wait for a lock, the first two deliveries to reach the
// table have both looked and found nothing, which is the race.
import pg from "pg";
import { Prisma } from "../generated/prisma/client.js";
import { quoteTable } from "./verify-mapping-sql.js";

const { Client: pgClient } = pg;

/** How long the stall waits for writers already in progress before giving up. */
const STALL_LOCK_TIMEOUT_MS = 2_000;

/** When a stall lets go, counted from the endWhenContended() call (the release). */
export interface StallHold {
  /** Held at least this long. */
  minMs: number;
  /** Then until this many sessions of the database wait for a lock... */
  waiters: number;
  /** ...or this long at the most. */
  maxMs: number;
}

/** What a stall did. */
export interface StallRelease {
  /** From the release until the lock was let go. */
  heldMs: number;
  /**
   * contended: enough sessions waited for a lock; answered: the round ended
   * first (every delivery was answered); cap: held maxMs; lost: the
   * stall's connection failed (the lock went with it).
   */
  reason: "contended" | "answered" | "cap" | "lost";
  /** Sessions seen waiting for a lock at the last look. */
  waiters: number;
}

export interface WriteStall {
  /** Starts the hold (call it at the release); the lock is let go as `hold` says. */
  endWhenContended(hold: StallHold): void;
  /** Releases the lock now if it is still held; safe to call twice. Undefined if the hold never started. */
  end(): Promise<StallRelease | undefined>;
}

// Within the stall's transaction pg_stat_activity lists only the sessions
// of its first read (a local snapshot) unless that is cleared before each
// look: an app's connections opened after it would never be counted.
const CLEAR_STATS_SNAPSHOT = Prisma.sql`SELECT pg_stat_clear_snapshot()`;
// Any lock, not only the stalled table's: a receiver's second delivery may
// wait on the first one's lead row or advisory lock, not on the insert.
// Sessions of other roles show no wait event to an unprivileged role: then
// the stall holds to its cap, which can only catch more.
const COUNT_LOCK_WAITERS = Prisma.sql`
  SELECT count(*)::int AS "n" FROM pg_stat_activity
  WHERE "datname" = current_database() AND "wait_event_type" = 'Lock' AND "pid" <> pg_backend_pid()`;
const POLL_MS = 5;

/**
 * Takes the lock, waiting at most `lockTimeoutMs` for writers already in
 * progress (then it throws, and nothing is held). The lock is held on a
 * connection of its own, never one of `pool`'s: in-process the pool is the
 * receiver's, and a stall holding one of its connections took a delivery's
 * place (with --pool-size 1 the observer waited for it and the run timed out).
 */
export async function stallWrites(pool: pg.Pool, table: string, lockTimeoutMs = STALL_LOCK_TIMEOUT_MS): Promise<WriteStall> {
  const client = new pgClient((pool as unknown as { options: pg.ClientConfig }).options);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
  try {
    await client.query("BEGIN");
    const timeout = Prisma.sql`SELECT set_config('lock_timeout', ${`${Math.round(lockTimeoutMs)}ms`}, true)`;
    await client.query(timeout.text, timeout.values);
    const lock = Prisma.sql`LOCK TABLE ${quoteTable(table)} IN EXCLUSIVE MODE`;
    await client.query(lock.text, lock.values);
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
  let startedAt: number | undefined;
  let waiters = 0;
  let ended: Promise<StallRelease | undefined> | undefined;
  const end = (reason: StallRelease["reason"]) =>
    (ended ??= client
      .query("COMMIT")
      .catch(() => undefined) // the lock goes with the connection anyway
      .then(async () => {
        const release = startedAt === undefined ? undefined : { heldMs: Math.round(performance.now() - startedAt), reason, waiters };
        await client.end().catch(() => undefined);
        return release;
      }));
  const countWaiters = async () => {
    await client.query(CLEAR_STATS_SNAPSHOT.text);
    return (await client.query<{ n: number }>(COUNT_LOCK_WAITERS.text)).rows[0]!.n;
  };
  const hold = async ({ minMs, waiters: enough, maxMs }: StallHold, from: number) => {
    await sleep(minMs);
    for (;;) {
      if (ended) return;
      if (performance.now() - from >= maxMs) return void end("cap");
      try {
        waiters = await countWaiters();
      } catch {
        return void end("lost");
      }
      if (ended) return;
      if (waiters >= enough) return void end("contended");
      await sleep(POLL_MS);
    }
  };
  return {
    endWhenContended(plan) {
      startedAt = performance.now();
      void hold(plan, startedAt);
    },
    end: () => end("answered"),
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Why the lock was refused, in the server's words, or undefined for any other error. */
const REFUSALS: Record<string, string> = {
  "55P03": `another transaction held a conflicting lock for ${STALL_LOCK_TIMEOUT_MS / 1000} s`,
  "42501": "the database role may not lock it (LOCK ... IN EXCLUSIVE MODE needs UPDATE, DELETE or TRUNCATE on the table)",
  "53300": "the server has no connection to spare for it (the stall holds one of its own)",
};

/**
 * As stallWrites, but a lock the server refuses (busy for too long, or not
 * permitted to this role) is not an error: the round runs unstalled and the
 * report says why. Any other failure (a lost connection) still throws.
 */
export async function tryStallWrites(pool: pg.Pool, table: string): Promise<{ stall: WriteStall } | { refused: string }> {
  try {
    return { stall: await stallWrites(pool, table) };
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const refused = typeof code === "string" ? REFUSALS[code] : undefined;
    if (refused === undefined) throw error;
    return { refused: `${refused}: ${(error as Error).message}` };
  }
}
