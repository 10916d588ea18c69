// Output of `dedupe-cli verify`: a summary table per stage for people, one
// JSON object for machines, and JUnit XML for CI dashboards (one testsuite
// per stage, one testcase per invariant per fixture; inconclusive is
// "skipped", never "passed").
import fs from "node:fs/promises";
import { renderTextTable, wrapText } from "../cli/table.js";
import { escapeXml, renderTestcase } from "./junit.js";
import { VERDICT_WORD } from "./report.js";
import type { InvariantResult } from "./types.js";
import type { StageResult, VerifyResult } from "./verify-run.js";

export function renderVerifyTable(result: VerifyResult, options: { color?: boolean; width?: number } = {}): string {
  const layout = { color: options.color, width: options.width ?? 80 };
  const table: string[][] = [];
  for (const s of result.stages) {
    const units = [...s.cases.map((c) => c.verdict), ...s.checks.map((c) => c.status)];
    const numbers = Object.entries(s.numbers).map(([k, v]) => `${k} ${v}`).join(", ");
    table.push([s.name, VERDICT_WORD[s.verdict], `${units.filter((u) => u === "pass").length}/${units.length}`, [numbers, ...s.notes].filter(Boolean).join("\n"), `${(s.durationMs / 1000).toFixed(1)} s`]);
  }
  const out = [renderTextTable({ ...layout, head: ["stage", "result", "passed", "key numbers", "time"], rows: table })];
  const problems = listProblems(result);
  if (problems.length > 0) {
    // Never split a token (a fixture name, "aiDrafts"): the layout stacks the rows instead.
    const detail = problems.slice(0, 40).map((p) => [p.stage, p.case, `${p.invariant.name} (${VERDICT_WORD[p.invariant.status]})`, p.invariant.expected, p.invariant.observed]);
    out.push(renderTextTable({ ...layout, head: ["stage", "case", "invariant", "expected", "observed"], rows: detail }));
    if (problems.length > 40) out.push(`... and ${problems.length - 40} more (see --json or --junit)`);
  }
  const how = `${result.mode} (${result.target})${result.strategy ? `, strategy ${result.strategy}` : ""}, N=${result.n} x ${result.budgetMs !== undefined ? `rounds within ${result.budgetMs} ms` : `${result.rounds} round(s)`}, drain ${result.drain}`;
  out.push(wrapText(`verify: ${VERDICT_WORD[result.verdict]} in ${(result.durationMs / 1000).toFixed(1)} s; ${how}`, layout.width));
  return `${out.join("\n")}\n`;
}

export interface Problem {
  stage: string;
  case: string;
  invariant: InvariantResult;
}

/** Every invariant that did not pass, stage by stage (fails before inconclusives). */
export function listProblems(result: VerifyResult): Problem[] {
  const problems: Problem[] = [];
  for (const s of result.stages) {
    for (const c of s.cases) for (const inv of c.invariants) if (inv.status !== "pass") problems.push({ stage: s.name, case: c.name, invariant: inv });
    for (const inv of s.checks) if (inv.status !== "pass") problems.push({ stage: s.name, case: "(stage)", invariant: inv });
  }
  return problems.sort((a, b) => Number(a.invariant.status !== "fail") - Number(b.invariant.status !== "fail"));
}

/** The --json object (per-delivery outcomes are already dropped). */
export function verifyToJson(result: VerifyResult): string {
  return `${JSON.stringify(result)}\n`;
}

function renderSuite(stage: StageResult): { xml: string; tests: number; failures: number; skipped: number } {
  const cases: string[] = [];
  const all: InvariantResult[] = [];
  for (const c of stage.cases) {
    for (const inv of c.invariants) {
      cases.push(renderTestcase(`dedupe-cli.verify.${stage.name}.${c.name}`, inv));
      all.push(inv);
    }
  }
  for (const inv of stage.checks) {
    cases.push(renderTestcase(`dedupe-cli.verify.${stage.name}`, inv));
    all.push(inv);
  }
  if (!stage.completed) {
    // An interrupted or unstarted stage must not read as green.
    const inv: InvariantResult = { name: "stage-completed", expected: "the stage ran to the end", observed: stage.notes.join("; ") || "no", status: "inconclusive" };
    cases.push(renderTestcase(`dedupe-cli.verify.${stage.name}`, inv));
    all.push(inv);
  }
  const failures = all.filter((i) => i.status === "fail").length;
  const skipped = all.filter((i) => i.status === "inconclusive").length;
  const xml = `  <testsuite name="${escapeXml(`verify ${stage.name}`)}" tests="${all.length}" failures="${failures}" skipped="${skipped}" errors="0" time="${(stage.durationMs / 1000).toFixed(3)}">\n${cases.join("\n")}\n  </testsuite>`;
  return { xml, tests: all.length, failures, skipped };
}

function renderVerifyJunit(result: VerifyResult): string {
  const suites = result.stages.map(renderSuite);
  const total = (k: "tests" | "failures" | "skipped") => suites.reduce((s, x) => s + x[k], 0);
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="dedupe-cli verify" tests="${total("tests")}" failures="${total("failures")}" skipped="${total("skipped")}" errors="0" time="${(result.durationMs / 1000).toFixed(3)}">\n${suites.map((s) => s.xml).join("\n")}\n</testsuites>\n`;
}

export async function writeVerifyJunit(file: string, result: VerifyResult): Promise<void> {
  await fs.writeFile(file, renderVerifyJunit(result));
}
