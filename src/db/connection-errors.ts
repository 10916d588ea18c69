// Recognising "the database is not there" errors by shape (code, adapter
// kind, message), not instanceof: the generated client and the runtime may be
// loaded twice. Lives in src/db so the db layer needs nothing from src/core.

interface ConnectionLikeError {
  code?: unknown;
  message?: unknown;
  name?: unknown;
  cause?: unknown;
  meta?: { driverAdapterError?: { cause?: { kind?: unknown } } };
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
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now
  "53300", // too_many_connections (raw pg errors: the hot statement skips Prisma)
  "3D000", // invalid_catalog_name: the database is gone
]);

const CONNECTION_KINDS = new Set(["DatabaseNotReachable", "ConnectionClosed", "SocketTimeout", "TooManyConnections", "DatabaseDoesNotExist"]);

/** P1001 and the adapter's ways of saying "the database is not there": worth a 503 + Retry-After, not a 500. */
export function isPrismaConnectionError(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    if (typeof current !== "object") return false;
    const e = current as ConnectionLikeError;
    // 08xxx: SQLSTATE class "connection exception".
    if (typeof e.code === "string" && (CONNECTION_CODES.has(e.code) || /^08[0-9A-Z]{3}$/.test(e.code))) return true;
    const kind = e.meta?.driverAdapterError?.cause?.kind;
    if (typeof kind === "string" && CONNECTION_KINDS.has(kind)) return true;
    if (e.name === "PrismaClientInitializationError") return true;
    if (typeof e.message === "string" && /Connection terminated|connect ECONNREFUSED|timeout exceeded when trying to connect/i.test(e.message)) return true;
    current = e.cause;
  }
  return false;
}
