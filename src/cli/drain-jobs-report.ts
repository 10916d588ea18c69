// drain-jobs output: a progress bar on a terminal, plain progress lines
// otherwise, and the per-type summary table.
import Table from "cli-table3";
import { jobsPerSecond, type DrainProgress, type DrainSummary } from "../jobs/summary.js";

type Stream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

/** Returns an onProgress callback and a finish() that clears the bar. */
export function createProgressReporter(stream: Stream, options: { tty: boolean; lineEveryMs?: number }) {
  let lastLine = 0;
  let drawn = false;
  const describe = (p: DrainProgress) => {
    const done = p.totals.succeeded + p.totals.retried + p.totals.failed;
    const rate = jobsPerSecond(p.totals, p.elapsedMs);
    return { done, rate, text: `${done} done (${p.totals.succeeded} ok, ${p.totals.retried} retry, ${p.totals.failed} failed), ${p.running} running, ${rate} jobs/s` };
  };
  return {
    onProgress(p: DrainProgress) {
      const { done, text } = describe(p);
      if (options.tty) {
        const total = p.initialDue ?? 0;
        const width = 24;
        const ratio = total > 0 ? Math.min(1, done / total) : 0;
        const filled = Math.round(ratio * width);
        const bar = total > 0 ? `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${done}/${total} ` : "";
        stream.write(`\r\x1b[2K${bar}${text}`);
        drawn = true;
      } else if (p.elapsedMs - lastLine >= (options.lineEveryMs ?? 5_000)) {
        lastLine = p.elapsedMs;
        stream.write(`drain-jobs: ${text}\n`);
      }
    },
    finish() {
      if (drawn) stream.write("\r\x1b[2K");
    },
  };
}

export function renderSummaryTable(summary: DrainSummary, color: boolean): string {
  const table = new Table({
    head: ["type", "claimed", "succeeded", "retried", "failed", "released", "recovered", "remaining", "jobs/s"],
    style: color ? undefined : { head: [], border: [] },
  });
  const types = new Set([...Object.keys(summary.byType), ...Object.keys(summary.remaining)]);
  for (const type of [...types].sort()) {
    const c = summary.byType[type];
    table.push([
      type,
      c?.claimed ?? 0,
      c?.succeeded ?? 0,
      c?.retried ?? 0,
      c?.failed ?? 0,
      c?.released ?? 0,
      c?.recovered ?? 0,
      summary.remaining[type] ?? 0,
      c ? jobsPerSecond(c, summary.elapsedMs) : 0,
    ]);
  }
  const t = summary.totals;
  const remaining = Object.values(summary.remaining).reduce((a, b) => a + b, 0);
  table.push(["total", t.claimed, t.succeeded, t.retried, t.failed, t.released, t.recovered, remaining, summary.jobsPerSecond]);
  const lost = t.lost > 0 ? `; ${t.lost} outcome(s) discarded after a lost lease` : "";
  const abandoned = t.abandoned > 0 ? `; ${t.abandoned} left running past the shutdown timeout` : "";
  return `${table.toString()}\nworker ${summary.workerId}, ${summary.mode}, stopped: ${summary.stoppedBy}, ${(summary.elapsedMs / 1000).toFixed(2)} s${lost}${abandoned}\n`;
}

/**
 * Each distinct handler error once (type, how many times, message), for
 * stderr: a run whose jobs all failed and were retried must not look clean.
 */
export function renderHandlerErrors(summary: DrainSummary): string {
  if (summary.errors.length === 0) return "";
  const lines = [`handler errors (${summary.errors.reduce((n, e) => n + e.count, 0)} failed attempts):`];
  for (const e of summary.errors) {
    const message = e.message.split("\n")[0]!;
    lines.push(`  ${e.type} x${e.count}: ${message.length > 300 ? `${message.slice(0, 300)}...` : message}`);
  }
  if (summary.moreErrors > 0) lines.push(`  ... and ${summary.moreErrors} more distinct error(s); see "lastError" in "BackgroundJob" or drain-jobs stats`);
  return `${lines.join("\n")}\n`;
}
