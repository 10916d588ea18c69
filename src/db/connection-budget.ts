// How many connections PostgreSQL will really give us, read before a pool is
// opened. A pool larger than the server, role or database allows does not
// fail cleanly: the connections past the limit are refused (53300) while the
// ones before it stay checked out, and a run that waits for all of them
// hangs. Reading the limits first lets a command size its pool down (and
// say so) or refuse within seconds, naming the limit and the fix.
import pg from "pg";
import { ConfigError } from "../errors.js";
import { describeConnectionFailure, redactUrl } from "./prepare.js";

/** Connections left free for psql, a migration, or the receiver's own pool on a shared server. */
export const HEADROOM = 2;

export interface ConnectionBudget {
  /** Connections this role can still open on this database, after HEADROOM. */
  available: number;
  /** The tightest limit, for people: "role lim allows 20 connections, 3 in use". */
  limitedBy: string;
  /** What raises that limit. */
  fix: string;
}

interface LimitRow {
  max_connections: number;
  reserved: number;
  superuser: boolean;
  role: string;
  role_limit: number;
  database: string;
  database_limit: number;
  total_in_use: number;
  role_in_use: number;
  database_in_use: number;
}

/**
 * Reads max_connections, the role's rolconnlimit, the database's
 * datconnlimit, and the connections already in use; our own probe
 * connection is not counted, since it closes before the pool opens.
 */
export async function readConnectionBudget(url: string): Promise<ConnectionBudget> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000, application_name: "dedupe-cli probe" });
  await client.connect().catch((error: unknown) => {
    throw describeConnectionFailure(url, error);
  });
  try {
    const { rows } = await client.query<LimitRow>(`
      SELECT current_setting('max_connections')::int AS max_connections,
             current_setting('superuser_reserved_connections')::int
               + COALESCE(NULLIF(current_setting('reserved_connections', true), ''), '0')::int AS reserved,
             r.rolsuper AS superuser, r.rolname AS role, r.rolconnlimit AS role_limit,
             d.datname AS database, d.datconnlimit AS database_limit,
             (SELECT count(*)::int FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()) AS total_in_use,
             (SELECT count(*)::int FROM pg_stat_activity WHERE usesysid = r.oid AND backend_type = 'client backend' AND pid <> pg_backend_pid()) AS role_in_use,
             (SELECT count(*)::int FROM pg_stat_activity WHERE datid = d.oid AND backend_type = 'client backend' AND pid <> pg_backend_pid()) AS database_in_use
        FROM pg_roles r, pg_database d
       WHERE r.rolname = current_user AND d.datname = current_database()`);
    return computeBudget(rows[0]!);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The tightest of the server, role and database limits. */
export function computeBudget(row: LimitRow): ConnectionBudget {
  const limits: Array<{ left: number; limitedBy: string; fix: string }> = [];
  const serverMax = row.max_connections - (row.superuser ? 0 : row.reserved);
  limits.push({
    left: serverMax - row.total_in_use,
    limitedBy: `the server allows ${serverMax} connections (max_connections ${row.max_connections}), ${row.total_in_use} in use`,
    fix: "raise max_connections in postgresql.conf, or stop other clients of this server",
  });
  if (row.role_limit >= 0) {
    limits.push({
      left: row.role_limit - row.role_in_use,
      limitedBy: `role ${row.role} allows ${row.role_limit} connections (CONNECTION LIMIT), ${row.role_in_use} in use`,
      fix: `raise it: ALTER ROLE ${row.role} CONNECTION LIMIT <n>`,
    });
  }
  if (row.database_limit >= 0) {
    limits.push({
      left: row.database_limit - row.database_in_use,
      limitedBy: `database ${row.database} allows ${row.database_limit} connections, ${row.database_in_use} in use`,
      fix: `raise it: ALTER DATABASE ${row.database} CONNECTION LIMIT <n>`,
    });
  }
  const tightest = limits.reduce((a, b) => (b.left < a.left ? b : a));
  return { available: Math.max(0, tightest.left - HEADROOM), limitedBy: tightest.limitedBy, fix: tightest.fix };
}

export interface PoolPlan {
  poolSize: number;
  /** Set when the pool was sized down: the line to print. */
  notice?: string;
}

/**
 * Fits the pool a command wants into the budget: a default pool is sized
 * down (never below `min`) with a notice; an explicit --pool-size that does
 * not fit, or a budget below `min`, is a ConfigError naming the limit.
 */
export function fitPoolSize(budget: ConnectionBudget, want: { poolSize: number; min: number; explicit: boolean; url: string }): PoolPlan {
  if (want.poolSize <= budget.available) return { poolSize: want.poolSize };
  const where = redactUrl(want.url);
  const fix = `${want.explicit ? "lower --pool-size" : "stop other clients"} or ${budget.fix}`;
  if (want.explicit || budget.available < want.min) {
    const asked = want.explicit ? `--pool-size ${want.poolSize}` : `at least ${want.min} connections`;
    throw new ConfigError(`PostgreSQL at ${where} cannot give ${asked}: ${budget.limitedBy}, so ${budget.available} are free (keeping ${HEADROOM} spare).`, {
      hint: `Fix: ${fix}.`,
    });
  }
  return {
    poolSize: budget.available,
    notice: `database pool: ${budget.available} connections, not ${want.poolSize}: ${budget.limitedBy} (to get ${want.poolSize}: ${budget.fix})`,
  };
}

/** Connections opened at once while warming a pool (see openPoolConnections). */
const WARM_CONCURRENCY = 16;

/**
 * Opens `n` pool connections and hands them back, at most WARM_CONCURRENCY
 * handshakes at a time: 500 SCRAM handshakes started together on a busy
 * 2-core machine each took longer than the pool's 5 s connect timeout, and
 * the run died with pg's bare "timeout expired". When PostgreSQL refuses one
 * (a limit reached since the budget was read), every connection already
 * opened is released before the ConfigError, so closing the pool cannot wait
 * forever on a connection nobody will return.
 */
export async function openPoolConnections(pool: pg.Pool, n: number, url: string): Promise<void> {
  const held: pg.PoolClient[] = [];
  let failure: { code?: string; message?: string } | undefined;
  let next = 0;
  const worker = async () => {
    while (next < n && !failure) {
      next++;
      try {
        held.push(await pool.connect());
      } catch (error) {
        failure ??= error as { code?: string; message?: string };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(WARM_CONCURRENCY, n) }, worker));
  for (const c of held) c.release();
  if (!failure) return;
  const opened = held.length;
  if (failure.code === "53300" || failure.code === "53000") {
    throw new ConfigError(`PostgreSQL at ${redactUrl(url)} refused connection ${opened + 1} of ${n}: ${failure.message}.`, {
      hint: "Fix: lower --pool-size, stop other clients of the database, or raise the limit (ALTER ROLE <role> CONNECTION LIMIT <n>, or max_connections).",
      cause: failure,
    });
  }
  if (/timeout/i.test(failure.message ?? "")) {
    throw new ConfigError(`PostgreSQL at ${redactUrl(url)} did not finish opening connection ${opened + 1} of ${n} within 5 s: the server (or this machine) is too busy to open that many.`, {
      hint: "Fix: lower --pool-size (or --n), or retry when the machine is less loaded.",
      cause: failure,
    });
  }
  throw describeConnectionFailure(url, failure);
}
