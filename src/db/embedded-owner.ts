// Who owns the embedded PostgreSQL: the dedupe-cli process that started it
// writes its pid to <dataDir>.owner, and stops the server on exit. A SIGKILLed
// owner cannot, and the detached server outlives it. Any later command sees
// the owner is dead and adopts the server (stops it on its own exit), and
// `dedupe-cli db stop` stops it outright.
import fs from "node:fs";
import { ConfigError } from "../errors.js";

/** The pid file beside the data directory (not inside: initdb wants an empty one). */
function ownerFile(dataDir: string): string {
  return `${dataDir}.owner`;
}

/** True while `pid` is a live process (EPERM: alive, owned by another user). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The recorded owner's pid, or undefined when none is recorded. */
export function readOwnerPid(dataDir: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(ownerFile(dataDir), "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** A server whose recorded owner is gone (or was never recorded: servers started before owners were). */
export function isOrphaned(dataDir: string): boolean {
  const owner = readOwnerPid(dataDir);
  return owner === undefined || (owner !== process.pid && !isAlive(owner));
}

/** Records this process as the owner (after starting the server). */
export function recordOwner(dataDir: string): void {
  fs.writeFileSync(ownerFile(dataDir), `${process.pid}\n`);
}

/**
 * Makes this process the owner of an orphaned server. The stale file is
 * removed and recreated exclusively, so of two commands adopting at once
 * exactly one wins; false for the loser (it only attaches).
 */
export function adoptOrphan(dataDir: string): boolean {
  if (!isOrphaned(dataDir)) return false;
  fs.rmSync(ownerFile(dataDir), { force: true });
  try {
    fs.writeFileSync(ownerFile(dataDir), `${process.pid}\n`, { flag: "wx" });
    return true;
  } catch {
    return false;
  }
}

/** Forgets the owner, if it is still this process. */
export function clearOwner(dataDir: string): void {
  if (readOwnerPid(dataDir) === process.pid) fs.rmSync(ownerFile(dataDir), { force: true });
}

/**
 * Fast shutdown (SIGINT) of a postmaster this process did not spawn, waiting
 * until it is gone so the data directory is free when this returns.
 */
export async function stopPostmaster(pid: number, dataDir: string): Promise<void> {
  try {
    process.kill(pid, "SIGINT");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ESRCH") return;
    throw new ConfigError(`Cannot stop the embedded PostgreSQL (pid ${pid}) in ${dataDir}: ${code}.`, {
      hint: `Stop it as the user that runs it (kill -INT ${pid}), or run dedupe-cli as that user.`,
      cause: error,
    });
  }
  // A fast shutdown of an idle harness cluster takes well under a second;
  // 60 s covers a loaded machine, after which the operator is told.
  for (let waited = 0; isAlive(pid); waited += 50) {
    if (waited > 60_000) throw new ConfigError(`The embedded PostgreSQL (pid ${pid}) in ${dataDir} did not stop within 60 s of SIGINT.`, { hint: `Check it with ps ${pid}; kill -QUIT ${pid} forces it.` });
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  fs.rmSync(ownerFile(dataDir), { force: true });
}
