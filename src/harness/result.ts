// Folding case results into one run result (what --json prints and what
// runRace/runReplay return).
import { combineVerdicts, mergeCounts, RACE_THRESHOLDS, summariseLatency } from "./stats.js";
import { countViolations } from "./report.js";
import type { CaseResult, HarnessResult } from "./types.js";

export function buildHarnessResult(input: {
  command: HarnessResult["command"];
  mode: HarnessResult["mode"];
  target: string;
  strategy: string | null;
  n: number;
  cases: CaseResult[];
  startedAt: number;
}): HarnessResult {
  const statusCounts: Record<string, number> = {};
  for (const c of input.cases) mergeCounts(statusCounts, c.statusCounts);
  const verdict = input.cases.length === 0 ? "inconclusive" : combineVerdicts(input.cases.map((c) => c.verdict));
  return {
    command: input.command,
    mode: input.mode,
    target: input.target,
    strategy: input.strategy,
    n: input.n,
    verdict,
    cases: input.cases,
    violations: countViolations(input.cases),
    latency: summariseLatency(input.cases.flatMap((c) => c.outcomes)),
    statusCounts,
    durationMs: performance.now() - input.startedAt,
    thresholds: { maxSpreadRatio: RACE_THRESHOLDS.maxSpreadRatio, minConcurrencyRatio: RACE_THRESHOLDS.minConcurrencyRatio },
  };
}
