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

// Connection and transient-state errors are recognised in src/db (the layer
// that opens connections); re-exported here for the core and providers.
export { isPrismaConnectionError, isStatementTimeoutError, isTransientDbError } from "../db/connection-errors.js";
