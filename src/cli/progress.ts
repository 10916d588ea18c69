// What race and replay print on stderr while they run. Every case's verdict
// line is in the report on stdout already, so stderr does not repeat it:
// on a terminal one live line is redrawn in place (cases judged, the last
// one, elapsed time, ticking once a second after the first two seconds);
// in CI (CI=true) or when stderr is not a terminal nothing is redrawn, since
// carriage returns make logs unreadable. With --json the report is not for
// people, so the per-case lines are printed as they come.
import { outputWidth, type CliContext } from "./context.js";
import { wrapText } from "./table.js";

const CASE_LINE = /^(pass|fail|inconclusive)\s+(\S+)/;
const TICK_AFTER_MS = 2_000;

export interface RunProgress {
  /** The harness's onProgress. */
  line(text: string): void;
  /** Clears the live line (before the report is printed). */
  finish(): void;
}

export function createRunProgress(ctx: CliContext, options: { json: boolean }): RunProgress {
  const live = Boolean(ctx.stderr.isTTY) && !ctx.env.ci;
  const started = performance.now();
  let judged = 0;
  let failed = 0;
  let last = "";
  let drawn = false;
  const draw = () => {
    if (!live) return;
    const elapsed = ((performance.now() - started) / 1000).toFixed(0);
    const text = `${judged} case(s) judged${failed ? `, ${failed} failed` : ""}, ${elapsed} s${last ? `; last: ${last}` : ""}`;
    const width = Math.max(20, ((ctx.stderr as { columns?: number }).columns ?? 80) - 1);
    ctx.stderr.write(`\r\x1b[K${text.slice(0, width)}`);
    drawn = true;
  };
  const clear = () => {
    if (drawn) ctx.stderr.write("\r\x1b[K");
    drawn = false;
  };
  let timer: NodeJS.Timeout | undefined;
  const start = setTimeout(() => {
    draw();
    timer = setInterval(draw, 1_000);
    timer.unref();
  }, TICK_AFTER_MS);
  start.unref();
  return {
    line(text) {
      const match = CASE_LINE.exec(text);
      if (match && !options.json) {
        judged++;
        if (match[1] === "fail") failed++;
        last = `${match[1]} ${match[2]}`;
        if (performance.now() - started >= TICK_AFTER_MS) draw();
        return;
      }
      clear();
      // Notices (the crash-window step's, say) fit the terminal like the report does.
      ctx.stderr.write(`${wrapLines(text, outputWidth(ctx))}\n`);
    },
    finish() {
      clearTimeout(start);
      if (timer) clearInterval(timer);
      clear();
    },
  };
}

/** Each line of `text` word-wrapped to `width`, continuation lines under its indent. */
export function wrapLines(text: string, width: number): string {
  return text
    .split("\n")
    // An unindented notice continues under a 2-space hang, so where it ends is visible.
    .map((line) => wrapText(line, width, /^\S/.test(line) ? { hang: "  " } : {}))
    .join("\n");
}
