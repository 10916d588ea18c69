// JUnit XML for CI dashboards: one testsuite per case (fixture/round), one
// testcase per invariant. An inconclusive invariant is reported as skipped,
// never as passed.
import fs from "node:fs/promises";
import type { HarnessResult, InvariantResult } from "./types.js";

export function escapeXml(text: string): string {
  return text
    // XML 1.0 cannot carry most control characters, even escaped.
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F]/g, "")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

/** One invariant as a testcase: a failure, "skipped" when inconclusive, empty when it held. */
export function renderTestcase(classname: string, inv: InvariantResult): string {
  const open = `    <testcase classname="${escapeXml(classname)}" name="${escapeXml(inv.name)}" time="0">`;
  const detail = `expected ${inv.expected}; observed ${inv.observed}${inv.witnesses?.length ? `; witness slots ${inv.witnesses.join(", ")}` : ""}`;
  if (inv.status === "fail") return `${open}\n      <failure message="${escapeXml(detail)}" type="InvariantViolation">${escapeXml(detail)}</failure>\n    </testcase>`;
  if (inv.status === "inconclusive") return `${open}\n      <skipped message="${escapeXml(`inconclusive: ${detail}`)}"/>\n    </testcase>`;
  return `${open}</testcase>`;
}

export function renderJunit(result: HarnessResult): string {
  const suites: string[] = [];
  let tests = 0;
  let failures = 0;
  let skipped = 0;
  for (const c of result.cases) {
    const caseFailures = c.invariants.filter((i) => i.status === "fail").length;
    const caseSkipped = c.invariants.filter((i) => i.status === "inconclusive").length;
    tests += c.invariants.length;
    failures += caseFailures;
    skipped += caseSkipped;
    const seconds = (c.latency.max / 1000).toFixed(3);
    const cases = c.invariants.map((inv) => renderTestcase(`dedupe-cli.${result.command}.${c.name}`, inv));
    suites.push(
      `  <testsuite name="${escapeXml(c.name)}" tests="${c.invariants.length}" failures="${caseFailures}" skipped="${caseSkipped}" errors="0" time="${seconds}">\n${cases.join("\n")}\n  </testsuite>`,
    );
  }
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="dedupe-cli ${result.command}" tests="${tests}" failures="${failures}" skipped="${skipped}" errors="0" time="${(result.durationMs / 1000).toFixed(3)}">\n${suites.join("\n")}\n</testsuites>\n`;
}

export async function writeJunit(file: string, result: HarnessResult): Promise<void> {
  await fs.writeFile(file, renderJunit(result));
}

/**
 * Marks a written JUnit file as errored: a run stopped by SIGINT/SIGTERM
 * covered only part of its cases, and a file showing 0 failures would read
 * as green on a CI dashboard. Adds one testsuite with an errored testcase
 * and counts it in the root element.
 */
export async function markJunitInterrupted(file: string, reason: string): Promise<void> {
  const xml = await fs.readFile(file, "utf8");
  await fs.writeFile(file, addInterruptedSuite(xml, reason));
}

export function addInterruptedSuite(xml: string, reason: string): string {
  const message = escapeXml(reason);
  const suite = `  <testsuite name="interrupted" tests="1" failures="0" skipped="0" errors="1" time="0">\n    <testcase classname="dedupe-cli" name="run-completed" time="0">\n      <error message="${message}" type="Interrupted">${message}</error>\n    </testcase>\n  </testsuite>\n`;
  return xml
    .replace(/<testsuites([^>]*?) tests="(\d+)"([^>]*?) errors="(\d+)"/, (_m, a: string, tests: string, b: string, errors: string) => `<testsuites${a} tests="${Number(tests) + 1}"${b} errors="${Number(errors) + 1}"`)
    .replace(/<\/testsuites>\s*$/, `${suite}</testsuites>\n`);
}
