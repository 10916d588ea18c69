// Pure pieces of the runner: the backoff formula, duration flags, and
// loading a --handlers module.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { durationFlag, parseDurationMs } from "../../src/cli/duration.js";
import { computeRetryDelay } from "../../src/jobs/backoff.js";
import { createHandlerRegistry, loadHandlersModule } from "../../src/jobs/registry.js";
import { BUILTIN_HANDLERS } from "../../src/jobs/handlers.js";
import { sanitiseErrorText } from "../../src/jobs/outcomes.js";
import { isTransientDbError } from "../../src/jobs/transient.js";
import { Waker, withRetries } from "../../src/jobs/waker.js";

describe("computeRetryDelay", () => {
  const opts = { baseMs: 100, maxMs: 5_000 };
  it("doubles per attempt within ±25% jitter and never exceeds the cap", () => {
    expect(computeRetryDelay(1, opts, () => 0)).toBe(75);
    expect(computeRetryDelay(1, opts, () => 0.999999)).toBe(125);
    expect(computeRetryDelay(3, opts, () => 0.5)).toBe(400);
    expect(computeRetryDelay(50, opts, () => 0.999999)).toBe(5_000);
  });
  it("grows strictly from one attempt to the next whatever the jitter, until the cap", () => {
    for (let n = 1; n < 5; n++) {
      expect(computeRetryDelay(n + 1, opts, () => 0)).toBeGreaterThan(computeRetryDelay(n, opts, () => 0.999999));
    }
  });
});

describe("durations", () => {
  it.each([["500ms", 500], ["30s", 30_000], ["5m", 300_000], ["1h", 3_600_000], ["250", 250], ["1.5s", 1_500]])("%s → %d ms", (text, ms) => {
    expect(parseDurationMs(text)).toBe(ms);
  });
  it("rejects nonsense and out-of-range values with a message", () => {
    expect(parseDurationMs("5 minutes")).toBeUndefined();
    const r = durationFlag(100).safeParse("10ms");
    expect(r.success).toBe(false);
    expect(durationFlag().safeParse("soon").error?.issues[0]?.message).toMatch(/duration like 500ms/);
  });
});

describe("handler modules", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dedupe-handlers-"));
  const write = (name: string, text: string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return file;
  };

  it("loads default and named exports by type; named exports win; overrides beat built-ins", async () => {
    const file = write(
      "ok.mjs",
      `export default { SMS_INBOUND_POST_PROCESS: async () => "default", EMAIL_INBOUND_POST_PROCESS: async () => "default" };
       export const EMAIL_INBOUND_POST_PROCESS = async () => "named";`,
    );
    const handlers = await loadHandlersModule(file);
    expect(Object.keys(handlers).sort()).toEqual(["EMAIL_INBOUND_POST_PROCESS", "SMS_INBOUND_POST_PROCESS"]);
    expect(await handlers.EMAIL_INBOUND_POST_PROCESS!({} as never, {} as never)).toBe("named");
    const registry = createHandlerRegistry(handlers);
    expect(registry.find("SMS_INBOUND_POST_PROCESS")).toBe(handlers.SMS_INBOUND_POST_PROCESS);
    expect(registry.find("LEAD_SCORING_POST_PROCESS")).toBe(BUILTIN_HANDLERS.LEAD_SCORING_POST_PROCESS);
    expect(registry.find("NOT_A_TYPE")).toBeUndefined();
  });

  it("rejects a module with no handler, a non-function export, or a missing file", async () => {
    await expect(loadHandlersModule(write("none.mjs", "export const foo = 1;"))).rejects.toThrow(/exports no handler/);
    await expect(loadHandlersModule(write("bad.mjs", "export const SMS_INBOUND_POST_PROCESS = 1;"))).rejects.toThrow(/must be a function/);
    await expect(loadHandlersModule(path.join(dir, "missing.mjs"))).rejects.toThrow(/Could not load --handlers/);
  });
});

describe("Waker", () => {
  it("keeps a wake that lands after a wait timed out, for the next wait", async () => {
    const waker = new Waker();
    await waker.wait(5); // times out: nobody woke it
    expect(waker.waiting).toBe(0);
    waker.wake(); // nobody waits now: must be remembered, not handed to the stale waiter
    let resolved = false;
    const next = waker.wait(60_000).then(() => (resolved = true));
    await Promise.resolve();
    expect(resolved).toBe(true);
    await next;
    waker.dispose();
  });
});

describe("isTransientDbError", () => {
  it("knows a restarting server (57P01, 57P03), a lost connection and too many connections, through Prisma's wrapping", () => {
    const viaPrisma = (code: string) => ({ code: "P2010", meta: { driverAdapterError: { cause: { originalCode: code } } } });
    for (const code of ["57P01", "57P02", "57P03", "08006", "08001", "53300", "40001", "40P01"]) {
      expect(isTransientDbError(viaPrisma(code)), code).toBe(true);
      expect(isTransientDbError({ code }), code).toBe(true);
    }
    expect(isTransientDbError(new Error("Connection terminated unexpectedly"))).toBe(true);
    expect(isTransientDbError({ message: "wrapped", cause: { code: "57P01" } })).toBe(true);
  });
  it("negative control: a statement's own errors are not transient", () => {
    for (const code of ["22021", "22P02", "23505", "42P01"]) {
      expect(isTransientDbError({ code: "P2010", meta: { driverAdapterError: { cause: { originalCode: code } } } }), code).toBe(false);
    }
    expect(isTransientDbError(new Error('relation "nope" does not exist'))).toBe(false);
  });
});

describe("sanitiseErrorText", () => {
  it("writes U+0000 as \\u0000 and lone surrogates as U+FFFD, keeps the rest", () => {
    expect(sanitiseErrorText("a\u0000b")).toBe("a\\u0000b");
    expect(sanitiseErrorText("x\uD800y")).toBe("x\uFFFDy");
    expect(sanitiseErrorText("ok 😀 é")).toBe("ok 😀 é");
    expect(sanitiseErrorText("z".repeat(3_000))).toHaveLength(2_000);
  });
});

describe("withRetries", () => {
  it("retries a lost connection but surfaces any other error at once", async () => {
    let calls = 0;
    const value = await withRetries(async () => {
      if (++calls < 3) throw new Error("Connection terminated unexpectedly");
      return "ok";
    }, 1_000, 1);
    expect([value, calls]).toEqual(["ok", 3]);
    calls = 0;
    await expect(
      withRetries(async () => {
        calls++;
        throw new Error('relation "nope" does not exist');
      }, 1_000, 1),
    ).rejects.toThrow(/nope/);
    expect(calls).toBe(1);
  });
});
