// Runs one handler under the runner's rules: a synchronous throw counts as a
// failure, a rejection with null/undefined gets a message, and with a job
// timeout the attempt fails once the timeout passes, whether or not the
// handler ever settles (its signal is aborted so it can stop).
import type { DbHandle } from "../db/client.js";
import type { ClaimedJobRow } from "../db/jobs-sql.js";
import type { HandlerRegistry } from "./registry.js";
import type { JobHandler, JobHandlerContext, JobInfo } from "./types.js";

export type ExecutionResult = { kind: "succeeded" } | { kind: "failed"; error: unknown } | { kind: "timed-out"; message: string };

export interface Execution {
  /** Settles with the handler (never rejects); undefined for a handler that never settles. */
  settled: Promise<void>;
  /** The outcome: the handler's, or a timeout. */
  result: Promise<ExecutionResult>;
}

export function runHandler(handler: JobHandler, job: JobInfo, ctx: JobHandlerContext, abort: AbortController, timeoutMs: number | undefined): Execution {
  const outcome: Promise<ExecutionResult> = (async () => handler(job, ctx))().then(
    () => ({ kind: "succeeded" }),
    (error: unknown) => ({ kind: "failed", error: error ?? new Error("the handler threw null or undefined; throw an Error instead") }),
  );
  const settled = outcome.then(() => undefined);
  if (timeoutMs === undefined) return { settled, result: outcome };
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<ExecutionResult>((resolve) => {
    timer = setTimeout(() => {
      const message = `did not settle within the job timeout (${timeoutMs} ms)`;
      abort.abort(new Error(message));
      resolve({ kind: "timed-out", message });
    }, timeoutMs);
  });
  const result = Promise.race([outcome, timedOut]).finally(() => clearTimeout(timer));
  return { settled, result };
}

/** The ctx a handler gets; runBuiltin() runs the built-in for the job's type, never recursively. */
export function buildHandlerContext(run: { db: DbHandle; workerId: string; registry: HandlerRegistry }, row: ClaimedJobRow, abort: AbortController): JobHandlerContext {
  const builtin = run.registry.builtin(row.type);
  const ctx: JobHandlerContext = {
    db: run.db.prisma,
    pool: run.db.pool,
    workerId: run.workerId,
    signal: abort.signal,
    runBuiltin: async () => {
      if (!builtin) throw new Error(`no built-in handler for type ${row.type}; remove the ctx.runBuiltin() call`);
      // A copy: a handler that mutates its job must not change what the runner's guarded writes use.
      await builtin({ ...row }, { ...ctx, runBuiltin: () => Promise.reject(new Error("ctx.runBuiltin() was called from inside a built-in handler; call it only from your own handler")) });
    },
  };
  return ctx;
}
