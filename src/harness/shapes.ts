// Leaf shapes with no imports (a delivery's outcome, the stored-id form), so
// that response.ts and mapping.ts can use them without an import cycle
// through types.ts.

/** What happened to one delivery. */
export interface DeliveryOutcome {
  slot: number;
  /** When its release was issued (last byte written / handler called). */
  releasedAt: number;
  /** When its full response arrived (or the error surfaced). */
  respondedAt: number;
  status: number | null;
  deduped: boolean | null;
  ignored: boolean;
  messageId: string | null;
  /** Transport error, or a response body that was not the accepted shape. */
  error: string | null;
  /** The error was on the wire (connect/reset/timeout), not in the answer. */
  transportError: boolean;
}

/** Which stored form of the provider id to look for: ours (namespaced), the bare provider id, or whichever exists. */
export type IdForm = "namespaced" | "raw" | "auto";
