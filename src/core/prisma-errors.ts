// Recognising Prisma errors without instanceof: the generated client and the
// runtime may be loaded twice (CLI + user handlers), so we match on shape.
// With driver adapters a P2002 names the violated index under
// meta.driverAdapterError.cause.constraint instead of meta.target.

export interface UniqueViolation {
  /** Index name ("Message_ghlId_key") or column list when that is all we get. */
  constraint?: string;
  fields: string[];
}

interface PrismaLikeError {
  code?: unknown;
  message?: unknown;
  meta?: {
    target?: unknown;
    modelName?: unknown;
    driverAdapterError?: { cause?: { kind?: unknown; constraint?: unknown; originalCode?: unknown } };
  };
}

/** P2002 (or the raw pg 23505 surfacing through $queryRaw) → the violated constraint; otherwise undefined. */
export function readUniqueViolation(error: unknown): UniqueViolation | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const e = error as PrismaLikeError;
  const cause = e.meta?.driverAdapterError?.cause;
  const isP2002 = e.code === "P2002";
  const isRawUnique = e.code === "P2010" && (cause?.originalCode === "23505" || cause?.kind === "UniqueConstraintViolation");
  const isPg = e.code === "23505";
  if (!isP2002 && !isRawUnique && !isPg) return undefined;
  const fields: string[] = [];
  let constraint: string | undefined;
  const raw = cause?.constraint as unknown;
  if (typeof raw === "string") constraint = raw;
  else if (raw && typeof raw === "object") {
    const c = raw as { index?: unknown; fields?: unknown };
    if (typeof c.index === "string") constraint = c.index;
    if (Array.isArray(c.fields)) fields.push(...c.fields.map(String));
  }
  const target = e.meta?.target;
  if (Array.isArray(target)) fields.push(...target.map(String));
  else if (typeof target === "string") constraint ??= target;
  if (isPg) constraint ??= (error as { constraint?: string }).constraint;
  return { constraint, fields: [...new Set(fields.map((f) => f.replace(/^"|"$/g, "")))] };
}

export function isPrismaUniqueConstraintError(error: unknown, key?: { index: string; field: string }): boolean {
  const violation = readUniqueViolation(error);
  if (!violation) return false;
  if (!key) return true;
  return violation.constraint === key.index || violation.fields.includes(key.field);
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
    const e = current as PrismaLikeError & { cause?: unknown; name?: unknown };
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
