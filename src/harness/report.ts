// Output for people (a cli-table3 table per case plus a summary), for
// machines (one JSON object) and for post-mortems (--history: one JSON line
// per delivery).
import fs from "node:fs/promises";
import { renderTextTable, wrapText } from "../cli/table.js";
import type { CaseResult, HarnessResult, InvariantResult } from "./types.js";
import { describeRelease, describeRounds } from "./schedule.js";
import { ABSOLUTE_SPREAD_MS, SPREAD_BOUND_PER_N } from "./stats.js";

const MAX_WITNESSES_SHOWN = 12;
/** How describeDerivedKey (deliveries.ts) starts its note. */
export const DERIVED_KEY_NOTE_PREFIX = "key derived";

function formatWitnesses(inv: InvariantResult): string {
  const w = inv.witnesses ?? [];
  if (w.length === 0) return "";
  const shown = w.slice(0, MAX_WITNESSES_SHOWN).join(", ");
  return w.length > MAX_WITNESSES_SHOWN ? `${shown}, ... (${w.length})` : shown;
}

/** "  note: ..." word-wrapped to the width, continuation lines indented under the text. */
function formatNote(note: string, width: number, label = "note:"): string {
  return wrapText(`  ${label} ${note}`, width, { hang: " ".repeat(label.length + 3) });
}

export const VERDICT_WORD = { pass: "PASS", fail: "FAIL", inconclusive: "INCONCLUSIVE" } as const;

/** Human-readable report. Cases that passed collapse to one line when there are many. */
export function renderTable(result: HarnessResult, options: { color?: boolean; width?: number } = {}): string {
  const layout = { color: options.color, width: options.width ?? 80 };
  const out: string[] = [];
  const collapse = result.cases.length > 8;
  for (const c of result.cases) {
    const waves = c.release?.kind === "waves" ? `, ${describeRelease(c.release)}` : "";
    const spread = c.releaseSpreadMs === null ? "" : `${waves}, spread ${c.releaseSpreadMs.toFixed(2)} ms, concurrency ${c.peakConcurrency}`;
    if (c.kind === "unsupported") {
      out.push(`UNSUPPORTED  ${c.name}`);
      out.push(formatNote(c.invariants[0]?.observed ?? "", layout.width, "reason:"));
      continue;
    }
    out.push(wrapText(`${VERDICT_WORD[c.verdict]}  ${c.name} (${c.provider} ${c.eventType}, ${c.deliveries} deliveries${spread})`, layout.width));
    if (collapse && c.verdict === "pass") {
      // A derived key is part of what the verdict means, so it shows even on a collapsed line.
      for (const note of c.notes) if (note.startsWith(DERIVED_KEY_NOTE_PREFIX)) out.push(formatNote(note, layout.width));
      continue;
    }
    const rows = c.invariants.map((inv) => [inv.name, inv.expected, inv.observed, VERDICT_WORD[inv.status], formatWitnesses(inv)]);
    // The witness column only when some invariant has witnesses: at 80 columns every column counts.
    const witnesses = rows.some((r) => r[4] !== "");
    const head = ["invariant", "expected", "observed", "result", "witness slots"].slice(0, witnesses ? 5 : 4);
    out.push(renderTextTable({ ...layout, head, rows: rows.map((r) => r.slice(0, head.length)) }));
    for (const note of c.notes) out.push(formatNote(note, layout.width));
  }
  const summary: string[][] = [];
  summary.push(
    ["mode", `${result.mode} (${result.target})${result.strategy ? `, strategy ${result.strategy}` : ""}`],
    ["cases", describeCaseCounts(result.cases)],
    ["latency ms", `p50 ${result.latency.p50}  p95 ${result.latency.p95}  p99 ${result.latency.p99}  max ${result.latency.max}`],
    ["status codes", Object.entries(result.statusCounts).map(([k, v]) => `${k}: ${v}`).join("  ")],
  );
  const spreads = result.cases.map((c) => c.releaseSpreadMs).filter((s): s is number => s !== null);
  if (spreads.length > 0) summary.push(["release spread ms", `max ${Math.max(...spreads).toFixed(3)}  (threshold ${result.thresholds.maxSpreadRatio} x p50, at most ${result.mode === "http" ? `${ABSOLUTE_SPREAD_MS.http} ms per ${SPREAD_BOUND_PER_N}` : `${ABSOLUTE_SPREAD_MS["in-process"]} ms`})`]);
  // "caught in 3 of 5 rounds (no-5xx 3)": how often a window opened, per fixture.
  const rounds = (result.rounds ?? []).filter((r) => r.rounds > 1 || r.schedule === "budget");
  if (rounds.length > 0) summary.push(["rounds", rounds.map(describeRounds).join("\n")]);
  const errors = listFirstErrorAnswers(result.cases);
  if (errors.length > 0) summary.push(["first error answers", errors.join("\n")]);
  const violated = Object.entries(result.violations);
  if (violated.length > 0) summary.push(["violations", violated.map(([k, v]) => `${k}: ${v} case(s)`).join("\n")]);
  summary.push(["verdict", `${VERDICT_WORD[result.verdict]} in ${Math.round(result.durationMs)} ms`]);
  out.push(renderTextTable({ ...layout, head: ["", "value"], rows: summary }));
  return `${out.join("\n")}\n`;
}

function describeCaseCounts(cases: readonly CaseResult[]): string {
  const unsupported = cases.filter((c) => c.kind === "unsupported").length;
  return `${cases.length} (${cases.filter((c) => c.verdict === "pass").length} passed${unsupported ? `, ${unsupported} unsupported` : ""})`;
}

/** The first few distinct 4xx/5xx answers and transport errors, so the report shows what the receiver said. */
export function listFirstErrorAnswers(cases: readonly CaseResult[], max = 3): string[] {
  const seen = new Set<string>();
  for (const c of cases) {
    for (const o of c.outcomes) {
      if (!o.error || (o.status !== null && o.status < 400)) continue;
      seen.add(o.error.slice(0, 160));
      if (seen.size >= max) return [...seen];
    }
  }
  return [...seen];
}

/** The --json object: everything but per-delivery outcomes (those go to --history). */
export function toJson(result: HarnessResult): string {
  const cases = result.cases.map(({ outcomes: _outcomes, ...rest }) => rest);
  return `${JSON.stringify({ ...result, cases })}\n`;
}

/** One line per delivery: case, slot, release and response instants, status, deduped, error. */
export async function writeHistory(file: string, result: HarnessResult): Promise<void> {
  const lines: string[] = [];
  for (const c of result.cases) {
    for (const o of c.outcomes) {
      lines.push(
        JSON.stringify({
          case: c.name,
          round: c.round,
          slot: o.slot,
          releasedAt: round3(o.releasedAt),
          respondedAt: round3(o.respondedAt),
          latencyMs: round3(o.respondedAt - o.releasedAt),
          status: o.status,
          deduped: o.deduped,
          messageId: o.messageId,
          error: o.error,
        }),
      );
    }
  }
  await fs.writeFile(file, lines.length > 0 ? `${lines.join("\n")}\n` : "");
}

const round3 = (v: number) => Math.round(v * 1000) / 1000;

/** Invariant name → cases that violated it. */
export function countViolations(cases: readonly CaseResult[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const c of cases) for (const inv of c.invariants) if (inv.status === "fail") counts[inv.name] = (counts[inv.name] ?? 0) + 1;
  return counts;
}
