// Recognising "the database is not there now" errors by shape (code, adapter
// kind, message), not instanceof: the generated client and the runtime may be
// loaded twice. Lives in src/db so the db layer needs nothing from src/core.

interface PrismaLikeError {
  code?: unknown;
  message?: unknown;
  meta?: { driverAdapterError?: { cause?: { kind?: unknown; originalCode?: unknown; code?: unknown } } };
}

const CONNECTION_CODES = new Set([
  "P1001", // can't reach database server
  "P1002", // timed out
  "P1017", // server closed the connection
  "P2024", // timed out fetching a connection from the pool
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "EPIPE",
  "EAI_AGAIN",
  "3D000", // invalid_catalog_name: the database is gone
]);

/**
 * SQLSTATEs meaning "the server is not there now": 08xxx connection
 * exception, 57P01-57P05 (admin/crash shutdown, cannot connect now while
 * starting up or in crash recovery, database dropped, idle session timeout),
 * 53xxx insufficient resources (53300 too many connections, 53100 disk full,
 * 53200 out of memory, 53400 configuration limit).
 */
const CONNECTION_SQLSTATE = /^(08[0-9A-Z]{3}|57P0[1-5]|53[0-9A-Z]{3})$/;

/**
 * SQLSTATEs of a statement that may well succeed if sent again later, on a
 * server that is there: 57014 query_canceled (statement_timeout), 40001 and
 * 40P01 (serialization failure, deadlock), 55P03 lock_not_available, 25006
 * read_only_sql_transaction (a failover left the pool on a standby).
 */
const RETRYABLE_SQLSTATES = new Set(["57014", "40001", "40P01", "55P03", "25006"]);

const CONNECTION_KINDS = new Set(["DatabaseNotReachable", "ConnectionClosed", "SocketTimeout", "TooManyConnections", "DatabaseDoesNotExist"]);

// What pg and PostgreSQL say when there is no SQLSTATE to go by (a socket
// that closed mid-query, a client-side query_timeout, a pooler's error text).
const CONNECTION_MESSAGES =
  /Connection terminated|connect ECONNREFUSED|timeout exceeded when trying to connect|Client has encountered a connection error|terminating connection|the database system is (starting up|shutting down|in recovery mode|not yet accepting connections)|server conn crashed|no more connections allowed/i;
const TIMEOUT_MESSAGES = /Query read timeout|canceling statement due to statement timeout|query_wait_timeout/i;

/**
 * Every SQLSTATE-like code an error carries: its own (raw pg errors), and,
 * through Prisma's driver adapter, meta.driverAdapterError.cause.originalCode
 * or .code (where 57P01/57P03 arrive: the adapter maps only a few codes to kinds).
 */
function readCodes(e: PrismaLikeError): string[] {
  const cause = e.meta?.driverAdapterError?.cause as { originalCode?: unknown; code?: unknown } | undefined;
  return [e.code, cause?.originalCode, cause?.code].filter((c): c is string => typeof c === "string");
}

/** Walks an error and its causes (Prisma and the batcher wrap them), up to a few levels. */
function someInChain(error: unknown, test: (e: PrismaLikeError & { name?: unknown }) => boolean): boolean {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    if (typeof current !== "object") return false;
    const e = current as PrismaLikeError & { cause?: unknown; name?: unknown };
    if (test(e)) return true;
    current = e.cause;
  }
  return false;
}

/** P1001 and the adapter's ways of saying "the database is not there": worth a 503 + Retry-After, not a 500. */
export function isPrismaConnectionError(error: unknown): boolean {
  return someInChain(error, (e) => {
    if (readCodes(e).some((code) => CONNECTION_CODES.has(code) || CONNECTION_SQLSTATE.test(code))) return true;
    const kind = e.meta?.driverAdapterError?.cause?.kind;
    if (typeof kind === "string" && CONNECTION_KINDS.has(kind)) return true;
    if (e.name === "PrismaClientInitializationError") return true;
    return typeof e.message === "string" && CONNECTION_MESSAGES.test(e.message);
  });
}

/** A statement cut off by statement_timeout (57014) or the client-side query timeout. */
export function isStatementTimeoutError(error: unknown): boolean {
  return someInChain(error, (e) => readCodes(e).includes("57014") || (typeof e.message === "string" && TIMEOUT_MESSAGES.test(e.message)));
}

/**
 * "Not available now": the database is unreachable, restarting, recovering,
 * out of connections, or the statement timed out or lost a conflict that a
 * retry resolves. A server answers 503 + Retry-After; a runner retries.
 */
export function isTransientDbError(error: unknown): boolean {
  if (isPrismaConnectionError(error) || isStatementTimeoutError(error)) return true;
  return someInChain(error, (e) => readCodes(e).some((code) => RETRYABLE_SQLSTATES.has(code)) || e.meta?.driverAdapterError?.cause?.kind === "TransactionWriteConflict");
}
