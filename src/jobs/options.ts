// Options for drainJobs (src/jobs/runner.ts) and the default worker id.
import { randomBytes } from "node:crypto";
import os from "node:os";
import type { BackgroundJobType } from "../generated/prisma/enums.js";
import type { BackoffOptions } from "./backoff.js";
import type { DrainProgress } from "./summary.js";
import type { JobHandlerMap } from "./types.js";

export interface DrainJobsOptions {
  /** Jobs run at once (default 10). */
  concurrency?: number;
  /** Jobs claimed per statement (default 100). */
  batch?: number;
  /** once (default): stop when nothing is due. watch: keep waiting for jobs (LISTEN/NOTIFY + polling). */
  mode?: "once" | "watch";
  /** Stop claiming after this many claims. */
  maxJobs?: number;
  /** Only these types (default all). */
  types?: readonly BackgroundJobType[];
  /** Only jobs of these messages (verify drains just the jobs its run caused). */
  messageIds?: readonly string[];
  /** A started job whose lease is not renewed for this long is recovered by any worker (default 5 min). */
  leaseMs?: number;
  /** The lease of a claimed job whose handler has not started yet (default 30 s, at most leaseMs). */
  claimLeaseMs?: number;
  /**
   * Start this many queued jobs ahead of a free slot (default 0). Faster when
   * the database is far or busy (a slot never waits for its job's start
   * write), but a crash charges up to this many jobs an attempt they never
   * used. With 0, an attempt is charged only when its handler starts.
   */
  startAhead?: number;
  /**
   * Dedicated connections for start writes (default 2; 0: none). A handler
   * then runs as soon as its start write has left the process, not after its
   * commit: a crash still cannot hide the run (PostgreSQL commits what was
   * sent). Not used through a transaction-mode pooler (pgbouncer=true),
   * over TLS, or for a job whose lease is not certainly still held: those
   * starts wait for the commit.
   */
  startConnections?: number;
  /** A handler that has not settled after this long fails its attempt; its signal is aborted (default: no limit). */
  jobTimeoutMs?: number;
  /** Stop claiming early enough to be done within this window. */
  timeBudgetMs?: number;
  workerId?: string;
  /** Overrides for the built-in handlers, by type. */
  handlers?: JobHandlerMap;
  /** false: only `handlers` run; other types fail with "no handler" (default true). */
  builtins?: boolean;
  backoff?: Partial<BackoffOptions>;
  /** Aborting stops claiming; in-flight jobs get shutdownTimeoutMs to finish. */
  signal?: AbortSignal;
  /** How long in-flight jobs may take after a stop before they are handed back (default 10 s). */
  shutdownTimeoutMs?: number;
  /** watch: poll this often when no notification arrives (default 2 s). */
  pollIntervalMs?: number;
  /**
   * watch: LISTEN for new jobs (default true, except through a
   * transaction-mode pooler — a URL with pgbouncer=true — where a LISTEN
   * would hold a server connection the pooler hands to others: poll there).
   */
  listen?: boolean;
  /** Outcomes are written in batches at most this late (default 2 ms) or this large (default = batch). */
  flushDelayMs?: number;
  flushSize?: number;
  onProgress?: (progress: DrainProgress) => void;
  progressIntervalMs?: number;
  /** Warnings (lost leases, listener errors) for people. */
  onWarning?: (message: string) => void;
  /** How many jobs this worker holds (claimed, not yet settled), whenever that changes by a claim or a settlement. */
  onHeldChange?: (held: number) => void;
}

/** host:pid:random, unique per process, readable in lockedBy. */
export function createWorkerId(): string {
  return `${os.hostname()}:${process.pid}:${randomBytes(3).toString("hex")}`;
}

/** True for a URL that says it goes through PgBouncer in transaction mode (pgbouncer=true, as Prisma reads it). */
export function isTransactionPoolerUrl(url: string): boolean {
  try {
    return new URL(url).searchParams.get("pgbouncer") === "true";
  } catch {
    return false;
  }
}
