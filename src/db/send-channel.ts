// A few dedicated connections on which a statement can be sent and known to
// have left this process before its answer comes back.
//
// Why that is worth knowing: a statement whose bytes are in the kernel's
// socket buffer reaches PostgreSQL whether or not this process lives on
// (SIGKILL, process.exit(), an uncaught exception), and PostgreSQL runs and
// commits it: a backend does not look for a vanished client until it has
// an answer to send, and our answers are a few ids, far below its output
// buffer. So a worker can record "this job's handler starts" and run the
// handler at once, without waiting a round trip for the commit, and a crash
// still cannot hide that the handler ran (src/jobs/starts.ts).
//
// "Left the process" is checked, not assumed: the connection must be idle
// (pg would otherwise queue the statement in memory), and after pg's
// synchronous submit the socket must have taken bytes and hold none back
// in user space. TLS sockets and anything else we cannot see through are
// reported as not sent; the caller then waits for the answer as before.
import net from "node:net";
import type tls from "node:tls";
import pg from "pg";
import type { Prisma } from "../generated/prisma/client.js";
import { toPgQuery } from "./sql.js";

export interface SentStatement<T> {
  /** True when the statement's bytes are known to be in the kernel (see above). */
  sent: boolean;
  /** The answer (or the error), as from pool.query. */
  rows: Promise<T[]>;
}

interface Lane {
  client: pg.Client;
  busy: boolean;
}

export class SendChannel {
  private readonly lanes: Lane[] = [];
  private idleWaiters: Array<() => void> = [];
  private closed = false;

  private constructor(private readonly config: pg.ClientConfig) {}

  /**
   * Opens `size` connections with the pool's settings; resolves undefined
   * when none can be opened (callers fall back to the pool and waiting).
   */
  static async open(pool: pg.Pool, size: number, applicationName: string): Promise<SendChannel | undefined> {
    const channel = new SendChannel({ ...(pool.options as pg.ClientConfig), application_name: applicationName });
    await Promise.all(Array.from({ length: size }, () => channel.addLane()));
    if (channel.lanes.length > 0) return channel;
    await channel.close();
    return undefined;
  }

  /** Live connections (a connection that failed is dropped, not replaced). */
  get size(): number {
    return this.lanes.length;
  }

  /**
   * Sends `query` now on an idle connection. Undefined when every live
   * connection is busy or none is left: nothing was sent.
   */
  trySend<T>(query: Prisma.Sql): SentStatement<T> | undefined {
    const lane = this.lanes.find((l) => !l.busy);
    if (!lane) return undefined;
    lane.busy = true;
    const stream = socketOf(lane.client);
    const before = stream?.bytesWritten ?? 0;
    const result = lane.client.query(toPgQuery(query, true));
    const sent = stream !== undefined && !stream.connecting && stream.bytesWritten > before && stream.writableLength === 0;
    const rows = result.then((r) => r.rows as T[]);
    void result.then(
      () => this.free(lane),
      () => this.free(lane),
    );
    return { sent, rows };
  }

  /** Resolves when some connection is idle (at once if one is), or when none is left. */
  whenIdle(): Promise<void> {
    if (this.closed || this.lanes.length === 0 || this.lanes.some((l) => !l.busy)) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async close(): Promise<void> {
    this.closed = true;
    const lanes = this.lanes.splice(0);
    this.wakeIdleWaiters();
    await Promise.all(lanes.map((l) => l.client.end().catch(() => undefined)));
  }

  private async addLane(): Promise<void> {
    const client = new pg.Client(this.config);
    const lane: Lane = { client, busy: true };
    // A broken connection leaves the channel; its statement's promise rejects on its own.
    client.on("error", () => this.drop(lane));
    client.on("end", () => this.drop(lane));
    try {
      await client.connect();
    } catch {
      await client.end().catch(() => undefined);
      return;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    lane.busy = false;
    this.lanes.push(lane);
  }

  private free(lane: Lane): void {
    lane.busy = false;
    this.wakeIdleWaiters();
  }

  private drop(lane: Lane): void {
    const index = this.lanes.indexOf(lane);
    if (index >= 0) this.lanes.splice(index, 1);
    this.wakeIdleWaiters();
  }

  private wakeIdleWaiters(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

/** The plain socket under a pg client, or undefined when it is TLS or not a socket (then "sent" cannot be seen). */
function socketOf(client: pg.Client): net.Socket | undefined {
  const stream = (client as unknown as { connection?: { stream?: unknown } }).connection?.stream;
  if (!(stream instanceof net.Socket) || (stream as tls.TLSSocket).encrypted) return undefined;
  return stream;
}
