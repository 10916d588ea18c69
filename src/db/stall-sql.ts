// A write stall on one table: an EXCLUSIVE lock (reads go on, writes wait)
// held in a transaction of its own, released after a set time. The harness
// uses it on the receiver's messages table during some budget rounds, so an
// insert outlasts any short lease or lock a receiver wraps around a
// check-then-create (see STALL_MS in src/harness/schedule.ts).
import pg from "pg";
import { Prisma } from "../generated/prisma/client.js";
import { quoteTable } from "./verify-mapping-sql.js";

const { Client: pgClient } = pg;

/** How long the stall waits for writers already in progress before giving up. */
const STALL_LOCK_TIMEOUT_MS = 2_000;

export interface WriteStall {
  /** Releases the lock `ms` from now. */
  endAfter(ms: number): void;
  /** Releases the lock now (a scheduled release is cancelled); safe to call twice. */
  end(): Promise<void>;
}

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
  let ended: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  const end = () =>
    (ended ??= client
      .query("COMMIT")
      .catch(() => undefined) // the lock goes with the connection anyway
      .then(() => client.end())
      .catch(() => undefined));
  return {
    endAfter(ms) {
      timer = setTimeout(() => void end(), ms);
    },
    async end() {
      clearTimeout(timer);
      await end();
    },
  };
}

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
