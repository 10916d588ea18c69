// Chooses where deliveries go: the real router in this process, on the
// resolved database, or an HTTP receiver.
import { DEFAULT_CONFLICT_STRATEGY, type ConflictStrategy } from "../core/messages.js";
import type { DbHandle } from "../db/client.js";
import { readDatabaseClock, readStatementWindows } from "../db/verify-sql.js";
import { createHttpEngine } from "./deliver-http.js";
import { createInProcessEngine } from "./deliver-inprocess.js";
import type { AnswerReader } from "./response.js";
import type { DeliveryMeter } from "./delivery-meter.js";
import { loadTestSigningKeys, type TestSigningKeys } from "./signing.js";
import { computePeakWindowOverlap } from "./stats.js";
import type { DatabaseObserver, DeliveryEngine, EngineTarget } from "./types.js";

export type { EngineTarget } from "./types.js";

/** Origin the in-process Requests carry (never resolved; only path and query matter to the router). */
const IN_PROCESS_ORIGIN = "http://dedupe-cli.internal";

export interface OpenedEngine {
  engine: DeliveryEngine;
  description: string;
  /** Keys deliveries are signed with; in-process the router trusts exactly these. */
  signer: TestSigningKeys;
  close(): Promise<void>;
}

export async function createEngine(target: EngineTarget, db: DbHandle, options: { strategy?: ConflictStrategy; timeoutMs?: number; answer?: AnswerReader; meter?: DeliveryMeter }): Promise<OpenedEngine> {
  const signer = loadTestSigningKeys();
  if (target.kind === "in-process") {
    const { createWebhookHandler } = await import("../providers/router.js");
    const handler = createWebhookHandler({
      db: db.prisma,
      strategy: options.strategy,
      ghlEd25519PublicKey: signer.ghlEd25519PublicKey,
      ghlRsaPublicKey: signer.ghlRsaPublicKey,
      // Rejections are what the invariants report, per slot; no log line per delivery.
      onEvent: () => undefined,
    });
    const engine = createInProcessEngine({ handler, pool: db.pool, observer: createDatabaseObserver(db), answer: options.answer, meter: options.meter });
    return { engine, signer, description: describeTarget(target), close: () => engine.close() };
  }
  const engine = createHttpEngine({ timeoutMs: options.timeoutMs, observer: createDatabaseObserver(db), answer: options.answer, meter: options.meter });
  return { engine, signer, description: describeTarget(target), close: () => engine.close() };
}

/** How a report names the receiver. */
export function describeTarget(target: EngineTarget): string {
  return target.kind === "in-process" ? "in-process router" : (target.url ?? target.baseUrl ?? "");
}

/** The strategy a report names: the core's, in-process; an HTTP receiver's own is unknown. */
export function describeStrategy(target: EngineTarget, strategy: ConflictStrategy | undefined): string | null {
  return target.kind === "in-process" ? (strategy ?? DEFAULT_CONFLICT_STRATEGY) : null;
}

/** Where a provider's deliveries go for this target, before the fixture's own query is added. */
export function resolveDeliveryUrl(target: EngineTarget, route: string): URL {
  if (target.kind === "in-process") return new URL(route, IN_PROCESS_ORIGIN);
  if (target.url) return new URL(target.url);
  const base = new URL(target.baseUrl!);
  // A base with a path prefix (a receiver mounted under /app) keeps it.
  base.pathname = `${base.pathname.replace(/\/+$/, "")}${route}`;
  return base;
}

/** Statement windows of the verification database (the receiver's), from pg_stat_activity. */
function createDatabaseObserver(db: DbHandle): DatabaseObserver {
  let since: Date | undefined;
  return {
    async begin() {
      // +1 ms: parameters carry milliseconds; the clock read itself must fall before the window.
      since = new Date((await readDatabaseClock(db.prisma)).getTime() + 1);
    },
    async end() {
      const windows = since ? await readStatementWindows(db.prisma, since) : [];
      return { peak: computePeakWindowOverlap(windows.map((w) => [w.start.getTime(), w.end?.getTime() ?? Infinity] as const)), statements: windows.length };
    },
  };
}
