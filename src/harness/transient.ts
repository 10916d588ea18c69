// Telling the environment's failures from the receiver's. A job that failed
// because the database refused a connection (53300 too many clients, a
// restart, a pool timeout) says nothing about the receiver: inside `verify`
// such a failure makes the verdict inconclusive (exit 3), never a violation
// (exit 1). Recognised by the text a job's lastError keeps, since the
// original error object is gone by the time the harness reads the row.

const TRANSIENT_TEXT =
  /53300|too many (clients|connections)|remaining connection slots|57P0[123]|the database system is (starting up|shutting down|in recovery)|Connection terminated|ECONNREFUSED|ECONNRESET|ETIMEDOUT|timeout exceeded when trying to connect|P1001|P1017|P2024|40001|could not serialize access|40P01|deadlock detected|TooManyConnections|DatabaseNotReachable|ConnectionClosed/i;

/** True when a stored error message names a transient database state rather than a bug. */
export function isTransientDatabaseError(text: string | null | undefined): boolean {
  return typeof text === "string" && TRANSIENT_TEXT.test(text);
}
