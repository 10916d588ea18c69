// Files a replay cannot judge (not JSON, no provider, a payload the provider
// planner rejects): each becomes its own `unsupported` case with the reason,
// so one bad file in a folder of real traffic never hides the verdicts of
// the others. An unsupported case is inconclusive (exit 3 when nothing
// failed): the run could not say whether the receiver handles that payload.
import path from "node:path";
import { ConfigError } from "../errors.js";
import type { ProviderName } from "../providers/types.js";
import { summariseLatency } from "./stats.js";
import type { CaseResult } from "./types.js";

export interface UnsupportedFile {
  /** Absolute path of the body file. */
  path: string;
  provider: ProviderName | undefined;
  reason: string;
}

/**
 * The reason a per-file failure gives (a ConfigError's message and hint,
 * without the file's path, which the case already names); anything else is
 * a real error and is rethrown.
 */
export function describeUnsupported(error: unknown, file: string): string {
  if (!(error instanceof ConfigError)) throw error;
  const message = error.message.replace(`Fixture ${file} is `, "").replace(`${file}: `, "").replace(` ${file} `, " it ");
  return error.hint ? `${message} (${error.hint})` : message;
}

/** When no file at all can be replayed, nothing is delivered: that is a usage error (exit 2), naming each file's reason. */
export function rejectAllUnsupported(files: readonly UnsupportedFile[]): never {
  const lines = files.slice(0, 10).map((f) => `  ${path.relative(process.cwd(), f.path) || f.path}: ${f.reason}`);
  throw new ConfigError(`No file can be replayed:\n${lines.join("\n")}`);
}

export function buildUnsupportedCase(file: UnsupportedFile, name = path.relative(process.cwd(), file.path) || file.path): CaseResult {
  return {
    name,
    fixture: file.path,
    provider: file.provider ?? "unknown",
    eventType: "(unsupported)",
    round: 1,
    kind: "unsupported",
    uniqueValue: null,
    deliveries: 0,
    invariants: [{ name: "supported-payload", expected: "a payload the product handles", observed: file.reason, status: "inconclusive" }],
    verdict: "inconclusive",
    latency: summariseLatency([]),
    statusCounts: {},
    releaseSpreadMs: null,
    peakConcurrency: null,
    notes: [`inconclusive: ${name} is unsupported: ${file.reason}`],
    outcomes: [],
  };
}
