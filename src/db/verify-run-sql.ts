// The job rows `dedupe-cli verify`'s drain stage judges, as the mapped
// queries (verify-mapping-sql.ts) return them: scoped to the messages the
// run's deliveries were answered with, so that whatever else a user's
// database holds can neither fail nor pass the check.

export interface RunJobRow {
  id: string;
  type: string;
  status: string;
  attempts: number;
  messageId: string;
  lastError: string | null;
}
