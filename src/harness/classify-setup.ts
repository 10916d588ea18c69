// Tells a setup mistake from a broken receiver. Exit 1 sends a team looking
// for a race; when every delivery of a provider failed the same way before
// the receiver's ingestion logic could run (nothing listening, a wrong route,
// a signature the receiver does not trust, a refused content type), the
// receiver's idempotency was never tested, and the verdict is a
// configuration error (exit 2) that names the cause and the fix.
import { ConfigError, InconclusiveError } from "../errors.js";
import type { DeliveryOutcome } from "./types.js";

/** Statuses a receiver answers before its ingestion logic runs. */
const PRE_LOGIC_STATUSES = new Set([401, 403, 404, 405, 415]);

export interface ClassifiableCase {
  provider: string;
  /** Tells GHL workflow webhooks (a shared secret) from Marketplace events (signed). */
  eventType?: string;
  verdict: string;
  outcomes: readonly DeliveryOutcome[];
}

/**
 * Deliveries that authenticate the same way are judged together: a receiver
 * that does not trust the GHL test keys refuses every signed GHL event while
 * still accepting GHL workflow webhooks, which carry a secret instead.
 */
function describeAuthGroup(c: ClassifiableCase): string {
  return c.provider === "ghl" && c.eventType === "WorkflowWebhook" ? "ghl (workflow webhooks)" : c.provider;
}

export interface SetupFailure {
  provider: string;
  deliveries: number;
  /** "ECONNREFUSED" or "HTTP 401". */
  how: string;
  /** The first answer or error, as received. */
  sample: string;
  fix: string;
}

/**
 * Every provider whose deliveries all failed one pre-logic way. A case that
 * passed (a fixture documenting a 401, say) never counts: that answer was
 * expected.
 */
export function findSetupFailures(cases: readonly ClassifiableCase[]): SetupFailure[] {
  const byProvider = new Map<string, ClassifiableCase[]>();
  for (const c of cases) byProvider.set(describeAuthGroup(c), [...(byProvider.get(describeAuthGroup(c)) ?? []), c]);
  const failures: SetupFailure[] = [];
  for (const [provider, group] of byProvider) {
    if (group.some((c) => c.verdict === "pass")) continue;
    const outcomes = group.flatMap((c) => c.outcomes);
    const kinds = new Set(outcomes.map(classifyOutcome));
    const [how] = kinds;
    if (outcomes.length === 0 || kinds.size !== 1 || how === undefined) continue;
    const sample = outcomes[0]!.error ?? `HTTP ${outcomes[0]!.status}`;
    failures.push({ provider, deliveries: outcomes.length, how, sample, fix: describeFix(provider, how, sample) });
  }
  return failures;
}

/** The ConfigError for findSetupFailures' result, or undefined when the receiver was reached. */
export function classifySetupFailure(cases: readonly ClassifiableCase[]): ConfigError | undefined {
  const failures = findSetupFailures(cases);
  if (failures.length === 0) return undefined;
  const lines = failures.map((f) => {
    const what = f.how.startsWith("HTTP") ? `the receiver answered ${f.how.slice(5)} to all ${f.deliveries}` : `${f.how} on all ${f.deliveries}`;
    return `  ${f.provider}: ${what} deliveries; first: ${f.sample.slice(0, 160)}`;
  });
  return new ConfigError(`no delivery reached the receiver's ingestion logic, so nothing was tested:\n${lines.join("\n")}`, {
    hint: [...new Set(failures.map((f) => `Fix: ${f.fix}`))].join("\n"),
  });
}

/** For a stage that must stop before judging anything: throws classifySetupFailure's error. */
export function throwIfSetupFailure(cases: readonly ClassifiableCase[]): void {
  const error = classifySetupFailure(cases);
  if (error) throw error;
}

/** "ECONNREFUSED", "HTTP 401", ...; undefined when the delivery reached the receiver's logic. */
function classifyOutcome(outcome: DeliveryOutcome): string | undefined {
  if (outcome.transportError) return /^([A-Z_]+):/.exec(outcome.error ?? "")?.[1] ?? "transport error";
  if (outcome.status !== null && PRE_LOGIC_STATUSES.has(outcome.status)) return `HTTP ${outcome.status}`;
  return undefined;
}

function describeFix(provider: string, how: string, sample: string): string {
  switch (how) {
    case "HTTP 401":
    case "HTTP 403":
      if (provider === "ghl (workflow webhooks)") {
        return "GHL workflow webhooks carry a secret, not a signature: set it on the receiver's client (`dedupe-cli clients add --slug <slug> --ghl-workflow-secret <secret>`, as fixtures/clients.json does)";
      }
      if (provider === "ghl") {
        return "the harness signs GHL deliveries with the TEST keys in fixtures/keys: start the receiver with `dedupe-cli serve --ghl-test-keys`, or set GHL_ED25519_PUBLIC_KEY to the contents of fixtures/keys/ghl-test-ed25519.public.pem in its environment";
      }
      return "the receiver's clients must carry the test secrets: `dedupe-cli clients load fixtures/clients.json --database-url <its database>` (or --clients <file> with yours)";
    case "HTTP 404":
      if (!/no route/i.test(sample) && /client/i.test(sample)) return "the receiver's database has no client for these fixtures: `dedupe-cli clients load fixtures/clients.json --database-url <its database>`";
      return "check the route: --target takes the receiver's base URL (http://host:3000); the harness appends /api/webhooks/<provider>. Use --url for one exact URL";
    case "HTTP 405":
      return "the receiver does not take POST at that URL: check --target/--url";
    case "HTTP 415":
      return "the receiver refused Content-Type: application/json: check that the route parses JSON webhooks";
    case "ECONNREFUSED":
      return "nothing is listening there: start the receiver first, or correct --target/--url";
    default:
      return "the receiver could not be reached: check --target/--url, and --timeout for a slow receiver";
  }
}

/** Invariants a 503 alone can break; anything else failing (a second row, an extra job) is a real violation. */
const EXPLAINED_BY_503 = new Set(["status", "no-5xx", "duplicates-deduped", "first-delivery-once", "answers-name-the-row"]);

/**
 * In-process, the receiver is our own router on our own pool: a 503
 * ("database unavailable") there is the harness running out of pool
 * connections (or the database going away), never the idempotency under
 * test. When 503s are all that failed, the verdict is inconclusive (exit 3)
 * with advice, not exit 1.
 */
export function classifyEngineOverload(
  mode: string,
  cases: ReadonlyArray<ClassifiableCase & { invariants: ReadonlyArray<{ name: string; status: string }> }>,
): InconclusiveError | undefined {
  if (mode !== "in-process") return undefined;
  const unavailable = cases.reduce((n, c) => n + c.outcomes.filter((o) => o.status === 503).length, 0);
  if (unavailable === 0) return undefined;
  // A 500 beside the 503s (a P2002 the receiver did not handle) is the receiver's own failure.
  if (cases.some((c) => c.outcomes.some((o) => o.status !== null && o.status >= 500 && o.status !== 503))) return undefined;
  const failed = cases.flatMap((c) => c.invariants.filter((i) => i.status === "fail").map((i) => i.name));
  if (failed.some((name) => !EXPLAINED_BY_503.has(name))) return undefined;
  const deliveries = cases.reduce((n, c) => n + c.outcomes.length, 0);
  return new InconclusiveError(
    `the built-in receiver answered 503 (database unavailable) to ${unavailable} of ${deliveries} deliveries: the in-process pool ran out of connections (or the database went away), which says nothing about idempotency.`,
    { hint: "Give the pool room (--pool-size, up to what the server allows), or lower --n; `dedupe-cli status` shows whether the database is up." },
  );
}

/** For a stage that must stop: throws classifyEngineOverload's error. */
export function throwIfEngineOverload(mode: string, cases: Parameters<typeof classifyEngineOverload>[1]): void {
  const error = classifyEngineOverload(mode, cases);
  if (error) throw error;
}
