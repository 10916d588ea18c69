// Bounded memory for the answers of a large run. Each outcome keeps its
// status and what its answer said (deduped, messageId), which the invariants
// judge per slot; the error text (up to ~200 characters of the answer body)
// is kept whole only for the first ERROR_SAMPLE distinct texts, and identical
// texts share one string, so 20,000 identical 503 answers hold one body, not
// 20,000. The report shows the first few distinct errors anyway.
import type { DeliveryOutcome } from "./shapes.js";

export const ERROR_SAMPLE = 50;

/** Returns a function that rewrites an outcome's error to a shared or shortened string. */
export function createErrorSampler(limit = ERROR_SAMPLE): (outcome: DeliveryOutcome) => DeliveryOutcome {
  const kept = new Map<string, string>();
  const shortened = new Map<string, string>();
  return (outcome) => {
    const error = outcome.error;
    if (error === null) return outcome;
    const known = kept.get(error);
    if (known !== undefined) {
      outcome.error = known;
      return outcome;
    }
    if (kept.size < limit) {
      kept.set(error, error);
      return outcome;
    }
    // "HTTP 503: {...}" → "HTTP 503: (text not kept: ...)", one string per head; the head and
    // its colon stay, since a transport error's code is read from them (classify-setup.ts).
    const head = error.slice(0, Math.max(0, error.indexOf(":"))) || error.slice(0, 40);
    let short = shortened.get(head);
    if (short === undefined) {
      short = `${head}: (text not kept: past the first ${limit} distinct errors of this run)`;
      shortened.set(head, short);
    }
    outcome.error = short;
    return outcome;
  };
}
