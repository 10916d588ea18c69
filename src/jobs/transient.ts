// Which database errors the runner waits out instead of stopping: a server
// shutting down or starting up (57P01/57P02/57P03 — a restart or failover),
// a lost or refused connection (SQLSTATE class 08, socket errors), too many
// connections (53300), and serialization/deadlock aborts (40001/40P01),
// which are safe to retry because every queue statement is one guarded,
// idempotent UPDATE. Kept here rather than shared with serve's
// classification (src/core/prisma-errors.ts) so the two can evolve apart.

const TRANSIENT_CODES = new Set([
  "57P01", // admin_shutdown: the server is shutting down (or our backend was terminated)
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now: the server is starting up
  "53300", // too_many_connections
  "40001", // serialization_failure
  "40P01", // deadlock_detected
  "P1001", // Prisma: can't reach database server
  "P1002", // Prisma: timed out
  "P1017", // Prisma: server closed the connection
  "P2024", // Prisma: timed out fetching a connection from the pool
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
]);

const TRANSIENT_KINDS = new Set(["DatabaseNotReachable", "ConnectionClosed", "SocketTimeout", "TooManyConnections"]);
const TRANSIENT_MESSAGE = /Connection terminated|connect ECONNREFUSED|timeout exceeded when trying to connect|Client has encountered a connection error|the database system is (starting up|shutting down|in recovery mode)/i;

interface ErrorShape {
  code?: unknown;
  message?: unknown;
  name?: unknown;
  cause?: unknown;
  meta?: { code?: unknown; driverAdapterError?: { cause?: { kind?: unknown; originalCode?: unknown } } };
}

function isTransientCode(code: unknown): boolean {
  return typeof code === "string" && (TRANSIENT_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code));
}

/** True for errors that a later try of the same statement can get past (see the list above). */
export function isTransientDbError(error: unknown): boolean {
  for (let current = error, depth = 0; current && typeof current === "object" && depth < 6; depth++) {
    const e = current as ErrorShape;
    const adapterCause = e.meta?.driverAdapterError?.cause;
    if (isTransientCode(e.code) || isTransientCode(e.meta?.code) || isTransientCode(adapterCause?.originalCode)) return true;
    if (typeof adapterCause?.kind === "string" && TRANSIENT_KINDS.has(adapterCause.kind)) return true;
    if (e.name === "PrismaClientInitializationError") return true;
    if (typeof e.message === "string" && TRANSIENT_MESSAGE.test(e.message)) return true;
    current = e.cause;
  }
  return false;
}
