// One Prisma client per database URL, over a pg.Pool we size ourselves: the
// race harness needs the database to really see N concurrent statements, so
// the pool must be at least as large as the race.
import { createHash } from "node:crypto";
import pg from "pg";
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "../generated/prisma/client.js";
import { isTransactionPooler, stripPoolerParam } from "./pooler.js";

export type Db = PrismaClient;

export interface DbHandle {
  prisma: PrismaClient;
  pool: pg.Pool;
  url: string;
  close(): Promise<void>;
}

export interface OpenDbOptions {
  url: string;
  /** Max pool connections (default 20). */
  poolSize?: number;
  /** Application name shown in pg_stat_activity. */
  applicationName?: string;
  /**
   * Bound on every statement (ms): PostgreSQL's statement_timeout cancels it
   * (57014), and a client-side timer a little later gives up on a server
   * that cannot even cancel (stopped, or a partition without RST). Unset: no bound.
   */
  statementTimeoutMs?: number;
}

/** How much later than statement_timeout the client stops waiting for a server that cannot answer at all. */
const CLIENT_TIMEOUT_GRACE_MS = 1_000;

// The pg.Pool behind each client we open, so the hottest statement can skip
// Prisma's raw-query layer (see runHotQuery in sql.ts), and whether that pool
// goes through a transaction-mode pooler (no named statements there).
const poolsByClient = new WeakMap<object, { pool: pg.Pool; pooler: boolean }>();

/** The pool openDb put under this Prisma client, if it was opened here. */
export function findPool(db: object): pg.Pool | undefined {
  return poolsByClient.get(db)?.pool;
}

/** False for a client opened through a transaction-mode pooler (pgbouncer=true): statements go unnamed. */
export function usesNamedStatements(db: object): boolean {
  return poolsByClient.get(db)?.pooler !== true;
}

export function openDb(options: OpenDbOptions): DbHandle {
  const pooler = isTransactionPooler(options.url);
  const timeoutMs = options.statementTimeoutMs;
  const pool = new pg.Pool({
    connectionString: stripPoolerParam(options.url),
    max: options.poolSize ?? 20,
    application_name: options.applicationName ?? "dedupe-cli",
    // A dead database must fail fast with a clear error, not hang a CLI run.
    connectionTimeoutMillis: 5_000,
    // Keep idle connections: a receiver whose pool shrinks while idle meets
    // the next burst with serial connection set-up, which both slows it and
    // hides races from the harness.
    idleTimeoutMillis: 0,
    // A pooler refuses statement_timeout as a startup parameter: there the
    // client-side timer alone bounds the wait.
    ...(timeoutMs && !pooler ? { statement_timeout: timeoutMs } : {}),
    ...(timeoutMs ? { query_timeout: timeoutMs + (pooler ? 0 : CLIENT_TIMEOUT_GRACE_MS) } : {}),
  });
  // An idle client's error (server restart) must not crash the process.
  pool.on("error", () => undefined);
  // Named statements let PostgreSQL reuse plans for our few hot queries;
  // the name is derived from the SQL text so identical queries share it.
  // Through a transaction pooler the next statement may reach a server
  // connection that never saw the name: unnamed there.
  const adapter = new PrismaPg(pool, pooler ? {} : { statementNameGenerator: (query) => nameStatement(query.sql) });
  const prisma = new PrismaClient({ adapter });
  poolsByClient.set(prisma, { pool, pooler });
  let closed = false;
  return {
    prisma,
    pool,
    url: options.url,
    async close() {
      if (closed) return;
      closed = true;
      await prisma.$disconnect().catch(() => undefined);
      await pool.end().catch(() => undefined);
    },
  };
}

const statementNames = new Map<string, string>();

/**
 * The prepared-statement name for a SQL text: a content hash, so one text has
 * one name across pools and processes (shared by the Prisma adapter and runHotQuery).
 */
export function nameStatement(sql: string): string {
  let name = statementNames.get(sql);
  if (!name) {
    name = `dd_${createHash("sha1").update(sql).digest("hex").slice(0, 20)}`;
    statementNames.set(sql, name);
  }
  return name;
}

/** Opens n connections at once and returns them to the pool, so a burst finds them ready. */
export async function warmPool(pool: pg.Pool, n: number): Promise<void> {
  const clients = await Promise.all(Array.from({ length: n }, () => pool.connect()));
  for (const client of clients) client.release();
}
