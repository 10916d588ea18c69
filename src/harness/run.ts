// The frame runRace and runReplay share: option defaults, the fixtures
// loaded, an engine opened (and closed however the run ends), and the cases
// folded into one run result.
import { createEngine, describeStrategy, type EngineTarget, type OpenedEngine } from "./engine.js";
import { loadFixtures, loadFixturesKeepGoing, type Fixture } from "./fixtures.js";
import { createDefaultMapping } from "./mapping-default.js";
import type { ReceiverMapping } from "./mapping.js";
import type { UnsupportedFile } from "./unsupported.js";
import type { DeliveryMeter } from "./delivery-meter.js";
import { buildHarnessResult } from "./result.js";
import { HTTP_SETTLE, IN_PROCESS_SETTLE, type SettleOptions } from "./settle.js";
import type { ConflictStrategy } from "../core/messages.js";
import type { DbHandle } from "../db/client.js";
import type { ProviderName } from "../providers/types.js";
import type { CaseResult, EngineTarget as Target, HarnessResult, IdForm } from "./types.js";

/** What runRace and runReplay (and so verify's stages) are both given. */
export interface HarnessRunOptions {
  /** Verification database; in-process it is also the receiver's database. */
  db: DbHandle;
  /** Fixture files or directories (directories are searched recursively). */
  paths: string[];
  /** Override the provider otherwise taken from each fixture's parent folder. */
  provider?: ProviderName;
  /** in-process (default) or an HTTP receiver. */
  target?: Target;
  /** In-process only: the core's conflict strategy. */
  strategy?: ConflictStrategy;
  idForm?: IdForm;
  /** How the receiver's database and answers read (default: dedupe-cli's own schema). */
  mapping?: ReceiverMapping;
  /** clients.json used to create (embedded) or check (external) the clients fixtures reference. */
  clientsFile?: string;
  /** Create missing clients (true on the embedded database; false: a missing client is a ConfigError). */
  createClients?: boolean;
  timeoutMs?: number;
  /** Settle window and timeout before a case is judged (default: one read in-process, 100 ms over HTTP). */
  settle?: SettleOptions;
  onProgress?: (line: string) => void;
  /** Sent/answered counts the engine keeps while it delivers (the CLI's live progress line). */
  meter?: DeliveryMeter;
  signal?: AbortSignal;
}

export interface HarnessRun {
  fixtures: Fixture[];
  /** Files that did not load (keepGoing runs only; otherwise loading throws). */
  unsupported: UnsupportedFile[];
  engine: OpenedEngine;
  target: EngineTarget;
  idForm: IdForm;
  mapping: ReceiverMapping;
  settle: SettleOptions;
}

/** Runs `body` with the fixtures and an open engine; `n` is the deliveries per case the report names. */
export async function runHarness(
  command: HarnessResult["command"],
  options: HarnessRunOptions,
  n: number,
  body: (run: HarnessRun) => Promise<CaseResult[]>,
  /** Report files that do not load as unsupported cases instead of stopping (replay). */
  loading: { keepGoing?: boolean } = {},
): Promise<HarnessResult> {
  const startedAt = performance.now();
  const target: EngineTarget = options.target ?? { kind: "in-process" };
  const idForm = options.idForm ?? "auto";
  const mapping = options.mapping ?? createDefaultMapping();
  const { fixtures, unsupported } = loading.keepGoing
    ? loadFixturesKeepGoing(options.paths, { provider: options.provider })
    : { fixtures: loadFixtures(options.paths, { provider: options.provider }), unsupported: [] };
  const engine = await createEngine(target, options.db, { strategy: options.strategy, timeoutMs: options.timeoutMs, answer: mapping.readAnswer, meter: options.meter });
  let cases: CaseResult[];
  try {
    const settle = options.settle ?? (target.kind === "http" ? HTTP_SETTLE : IN_PROCESS_SETTLE);
    cases = await body({ fixtures, unsupported, engine, target, idForm, mapping, settle });
  } finally {
    await engine.close();
  }
  return buildHarnessResult({
    command,
    mode: engine.engine.mode,
    target: engine.description,
    strategy: describeStrategy(target, options.strategy),
    n,
    cases,
    startedAt,
  });
}
