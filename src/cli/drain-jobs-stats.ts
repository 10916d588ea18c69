// dedupe-cli drain-jobs stats: what a job-runner operator looks at first.
// Jobs per type and status, the oldest due job's age, failures grouped by
// their last error, and workers holding jobs whose lease has expired (dead
// or stuck: any drain-jobs recovers those). Read-only.
import type { Command } from "commander";
import { z } from "zod";
import { countJobsByTypeAndStatus, listFailureGroups, listLeaseHolders, type FailureGroup, type HolderLeases, type JobTypeStatusCounts } from "../db/job-stats-sql.js";
import { outputWidth, type CliContext } from "./context.js";
import { renderTextTable, wrapText } from "./table.js";
import { addDatabaseOptions, databaseOptionsSchema, intFlag, openDatabaseSession, parseOptions } from "./options.js";

const optionsSchema = databaseOptionsSchema.extend({
  failures: intFlag(0, 1_000).default(10),
  json: z.boolean().default(false),
});

export interface JobStats {
  byType: JobTypeStatusCounts[];
  totals: Omit<JobTypeStatusCounts, "type">;
  failures: FailureGroup[];
  holders: HolderLeases[];
  /** RUNNING jobs whose lease has expired, over all holders. */
  expiredLeases: number;
}

export function registerStats(parent: Command, ctx: CliContext): Command {
  return addDatabaseOptions(
    parent
      .command("stats")
      .description("Show the job queue: jobs per type and status, the oldest due job's age, failures by last error, and workers holding jobs past their lease. Read-only."),
  )
    .option("--failures <n>", "how many failure groups (type + last error) to list", "10")
    .option("-j, --json", "print one JSON object on stdout", false)
    .addHelpText("after", "\nExamples:\n  $ dedupe-cli drain-jobs stats\n  $ dedupe-cli drain-jobs stats --json --failures 50")
    .action(async (raw) => {
      const opts = parseOptions(optionsSchema, raw);
      const { db } = await openDatabaseSession(ctx, { databaseUrl: opts.databaseUrl, fresh: opts.fresh, poolSize: 3, quiet: opts.json });
      const [byType, failures, holders] = await Promise.all([
        countJobsByTypeAndStatus(db.prisma),
        listFailureGroups(db.prisma, opts.failures),
        listLeaseHolders(db.prisma),
      ]);
      const stats = summariseStats(byType, failures, holders);
      ctx.stdout.write(opts.json ? `${JSON.stringify(stats)}\n` : renderStats(stats, outputWidth(ctx)));
    });
}

function summariseStats(byType: JobTypeStatusCounts[], failures: FailureGroup[], holders: HolderLeases[]): JobStats {
  const totals = { pending: 0, due: 0, running: 0, succeeded: 0, failed: 0, oldestDueMs: null as number | null };
  for (const t of byType) {
    totals.pending += t.pending;
    totals.due += t.due;
    totals.running += t.running;
    totals.succeeded += t.succeeded;
    totals.failed += t.failed;
    if (t.oldestDueMs !== null) totals.oldestDueMs = Math.max(totals.oldestDueMs ?? 0, t.oldestDueMs);
  }
  return { byType, totals, failures, holders, expiredLeases: holders.reduce((n, h) => n + h.expired, 0) };
}

function formatAge(ms: number | null): string {
  if (ms === null) return "-";
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1_000).toFixed(1)} s`;
  if (ms < 7_200_000) return `${(ms / 60_000).toFixed(1)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

const clip = (text: string, width: number) => (text.length > width ? `${text.slice(0, width - 3)}...` : text);

/** On the shared renderer: fits the terminal, type names (up to 30 characters) never split. */
function renderStats(stats: JobStats, width: number): string {
  const rows = stats.byType.map((t) => [t.type, String(t.pending), String(t.due), String(t.running), String(t.succeeded), String(t.failed), formatAge(t.oldestDueMs)]);
  const s = stats.totals;
  rows.push(["total", String(s.pending), String(s.due), String(s.running), String(s.succeeded), String(s.failed), formatAge(s.oldestDueMs)]);
  const table = renderTextTable({ head: ["type", "pend", "due", "run", "ok", "failed", "oldest"], rows, width });
  const out = [stats.byType.length ? table : "no jobs"];

  if (stats.holders.length > 0) {
    out.push(`\njobs held by workers (RUNNING): ${stats.expiredLeases} with an expired lease${stats.expiredLeases > 0 ? "\n(any running drain-jobs recovers those)" : ""}`);
    for (const h of stats.holders) {
      const expired = h.expired > 0 ? `, ${h.expired} expired (for ${formatAge(h.expiredForMs)})` : "";
      out.push(`  ${clip(h.worker, 36)}: ${h.held} held${expired}`);
    }
  }
  if (stats.failures.length > 0) {
    out.push("\nfailed jobs by last error:");
    for (const f of stats.failures) out.push(`  ${f.type} x${f.count}:\n${wrapText(`    ${clip(f.lastError.split("\n")[0]!, 300)}`, width)}`);
  }
  return `${out.join("\n")}\n`;
}
