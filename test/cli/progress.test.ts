// The live progress line of race/replay: on a terminal it shows the engine's
// sent / answered / in-flight counts; off a terminal (CI) at most one plain
// line per 10 s while deliveries are moving, and nothing when they are not.
// Fake timers: no assertion depends on how fast anything runs.
import { PassThrough } from "node:stream";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { CliContext } from "../../src/cli/context.js";
import { createRunProgress } from "../../src/cli/progress.js";

function fakeContext(tty: boolean, ci = false) {
  let written = "";
  const stderr = Object.assign(new PassThrough(), { isTTY: tty, columns: 120 });
  stderr.on("data", (d) => (written += d));
  const ctx = { env: { ci, columns: 120 }, stdout: new PassThrough(), stderr } as unknown as CliContext;
  return { ctx, output: () => written };
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe("race progress", () => {
  it("on a terminal: the live line carries sent, answered and in flight", async () => {
    const { ctx, output } = fakeContext(true);
    const progress = createRunProgress(ctx, { json: false });
    progress.meter.sent = 20000;
    progress.meter.answered = 15230;
    await vi.advanceTimersByTimeAsync(3_100);
    progress.finish();
    expect(output()).toContain("sent 20000, answered 15230, in flight 4770");
    expect(output()).toContain("\r");
  });

  it("off a terminal: one plain line per 10 s while deliveries move, none when idle", async () => {
    const { ctx, output } = fakeContext(false, true);
    const progress = createRunProgress(ctx, { json: false });
    progress.meter.sent = 1000;
    for (let s = 0; s < 60; s++) {
      progress.meter.answered = Math.min(1000, s * 10);
      await vi.advanceTimersByTimeAsync(1_000);
    }
    const lines = output().split("\n").filter(Boolean);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.length).toBeLessThanOrEqual(6);
    expect(output()).not.toContain("\r");
    expect(lines[0]).toMatch(/^progress: sent 1000, answered \d+, in flight \d+, \d+ s$/);
    // All answered: nothing more is printed however long the run goes on.
    progress.meter.answered = 1000;
    const before = output();
    await vi.advanceTimersByTimeAsync(60_000);
    progress.finish();
    expect(output()).toBe(before);
  });
});
