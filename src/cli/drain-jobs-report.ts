// drain-jobs output: a progress bar on a terminal, plain progress lines
// otherwise, and the per-type summary table.
import { jobsPerSecond, type DrainProgress, type DrainSummary } from "../jobs/summary.js";
import { renderTextTable, wrapText } from "./table.js";

type JobCounts = DrainSummary["totals"];

type Stream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

/** Returns an onProgress callback and a finish() that clears the bar. */
export function createProgressReporter(stream: Stream, options: { tty: boolean; width?: number; lineEveryMs?: number }) {
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
        // One line, never wider than the terminal: a wrapped line cannot be redrawn in place.
        const line = `${bar}${text}`;
        stream.write(`\r\x1b[2K${line.slice(0, Math.max(20, (options.width ?? stream.columns ?? 80) - 1))}`);
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

/**
 * The per-type summary on the shared renderer (src/cli/table.ts), so it fits
 * the terminal like every other table: short headers, and the released and
 * recovered columns only when a job was released or recovered (they are
 * almost always 0, and two more columns push 80 columns into the stacked
 * layout). --json always carries every count.
 */
export function renderSummaryTable(summary: DrainSummary, options: { color: boolean; width: number }): string {
  const t = summary.totals;
  const showReleased = t.released > 0;
  const showRecovered = t.recovered > 0;
  const head = ["type", "claimed", "ok", "retried", "failed", ...(showReleased ? ["released"] : []), ...(showRecovered ? ["recovered"] : []), "left", "jobs/s"];
  const row = (type: string, c: Partial<JobCounts> | undefined, left: number, rate: number) => [
    type,
    String(c?.claimed ?? 0),
    String(c?.succeeded ?? 0),
    String(c?.retried ?? 0),
    String(c?.failed ?? 0),
    ...(showReleased ? [String(c?.released ?? 0)] : []),
    ...(showRecovered ? [String(c?.recovered ?? 0)] : []),
    String(left),
    String(rate),
  ];
  const types = new Set([...Object.keys(summary.byType), ...Object.keys(summary.remaining)]);
  const rows = [...types].sort().map((type) => {
    const c = summary.byType[type];
    return row(type, c, summary.remaining[type] ?? 0, c ? jobsPerSecond(c, summary.elapsedMs) : 0);
  });
  const remaining = Object.values(summary.remaining).reduce((a, b) => a + b, 0);
  rows.push(row("total", t, remaining, summary.jobsPerSecond));
  const lost = t.lost > 0 ? `; ${t.lost} outcome(s) discarded after a lost lease` : "";
  const abandoned = t.abandoned > 0 ? `; ${t.abandoned} left running past the shutdown timeout` : "";
  const footer = `worker ${summary.workerId}, ${summary.mode}, stopped: ${summary.stoppedBy}, ${(summary.elapsedMs / 1000).toFixed(2)} s${lost}${abandoned}`;
  return `${renderTextTable({ head, rows, width: options.width, color: options.color })}\n${wrapText(footer, options.width, { hang: "  " })}\n`;
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
