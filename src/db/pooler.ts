// Transaction-mode connection poolers (PgBouncer pool_mode=transaction,
// Supabase's pooler on port 6543) hand each transaction to whichever server
// connection is free. What lives on a session breaks there: named prepared
// statements (PgBouncer before 1.21 has no protocol-level support; Debian's
// package is 1.18), session advisory locks, LISTEN, and startup parameters
// such as statement_timeout (PgBouncer rejects unknown ones). The URL says
// which it is, as for Prisma: `?pgbouncer=true`.

const POOLER_PARAM = "pgbouncer";

/** True when `url` carries pgbouncer=true: statements must not rely on the session. */
export function isTransactionPooler(url: string): boolean {
  try {
    return new URL(url).searchParams.get(POOLER_PARAM)?.toLowerCase() === "true";
  } catch {
    return false;
  }
}

/** `url` without the pgbouncer parameter (pg ignores it today; nothing says it always will). */
export function stripPoolerParam(url: string): string {
  try {
    const parsed = new URL(url);
    if (!parsed.searchParams.has(POOLER_PARAM)) return url;
    parsed.searchParams.delete(POOLER_PARAM);
    return parsed.toString();
  } catch {
    return url;
  }
}
