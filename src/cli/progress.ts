// What race and replay print on stderr while they run. Every case's verdict
// line is in the report on stdout already, so stderr does not repeat it:
// on a terminal one live line is redrawn in place (deliveries sent, answered
// and in flight, cases judged, the last one, elapsed time, ticking once a
// second after the first two seconds); in CI (CI=true) or when stderr is not
// a terminal nothing is redrawn, since carriage returns make logs
// unreadable: there a plain line with the same counts every 10 s while
// deliveries are moving, nothing otherwise. With --json the report is not
// for people, so the per-case lines are printed as they come.
import { createDeliveryMeter, describeDeliveryMeter, type DeliveryMeter } from "../harness/delivery-meter.js";
import { outputWidth, type CliContext } from "./context.js";
import { wrapText } from "./table.js";

const CASE_LINE = /^(pass|fail|inconclusive)\s+(\S+)/;
const TICK_AFTER_MS = 2_000;
/** Off a terminal: at most one counts line this often (a CI log must not fill with them). */
const PLAIN_EVERY_MS = 10_000;

export interface RunProgress {
  /** The harness's onProgress. */
  line(text: string): void;
  /** Clears the live line (before the report is printed). */
  finish(): void;
  /** The engines' counts (pass as the harness's meter). */
  meter: DeliveryMeter;
}

export function createRunProgress(ctx: CliContext, options: { json: boolean }): RunProgress {
  const live = Boolean(ctx.stderr.isTTY) && !ctx.env.ci;
  const started = performance.now();
  let judged = 0;
  let failed = 0;
  let last = "";
  let drawn = false;
  const meter = createDeliveryMeter();
  let plainAt = started;
  let plainCounts = "";
  const draw = () => {
    const elapsed = ((performance.now() - started) / 1000).toFixed(0);
    const counts = describeDeliveryMeter(meter);
    if (!live) {
      // Only while deliveries are moving, and only when the counts changed.
      const now = performance.now();
      if (!counts || counts === plainCounts || meter.sent === meter.answered || now - plainAt < PLAIN_EVERY_MS) return;
      plainAt = now;
      plainCounts = counts;
      ctx.stderr.write(`progress: ${counts}, ${elapsed} s\n`);
      return;
    }
    const text = `${counts ? `${counts}; ` : ""}${judged} case(s) judged${failed ? `, ${failed} failed` : ""}, ${elapsed} s${last ? `; last: ${last}` : ""}`;
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
        if (live && performance.now() - started >= TICK_AFTER_MS) draw();
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
    meter,
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
