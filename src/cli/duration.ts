// Duration flags ("500ms", "30s", "5m", "1h", or bare milliseconds) as a zod
// schema, so a bad value fails option parsing with the flag's name.
import { z } from "zod";

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/;

export function parseDurationMs(text: string): number | undefined {
  const match = DURATION.exec(text.trim());
  if (!match) return undefined;
  const ms = Number(match[1]) * UNIT_MS[(match[2] ?? "ms") as keyof typeof UNIT_MS];
  return Number.isFinite(ms) ? Math.round(ms) : undefined;
}

/** A duration flag → milliseconds, within [minMs, maxMs]. */
export const durationFlag = (minMs = 1, maxMs = 7 * 24 * 3_600_000) =>
  z
    .union([z.string(), z.number()])
    .transform((value, ctx) => {
      const ms = typeof value === "number" ? value : parseDurationMs(value);
      if (ms === undefined) {
        ctx.addIssue({ code: "custom", message: `must be a duration like 500ms, 30s, 5m or 1h (got ${JSON.stringify(value)})` });
        return z.NEVER;
      }
      return ms;
    })
    .pipe(z.number().min(minMs, `must be at least ${minMs} ms`).max(maxMs, `must be at most ${maxMs} ms`));

/** "1s,5s" → [1000, 5000]; "none" → []. */
export const lateScheduleFlag = z
  .string()
  .transform((value, ctx) => {
    if (value.trim() === "none") return [];
    const offsets = value.split(",").map((part) => parseDurationMs(part));
    if (offsets.some((ms) => ms === undefined || ms > 3_600_000)) {
      ctx.addIssue({ code: "custom", message: `must be offsets like "1s" or "1s,5s" (each at most 1h), or "none" (got ${JSON.stringify(value)})` });
      return z.NEVER;
    }
    return offsets as number[];
  });

const UNIT_BYTES = { b: 1, kb: 1024, k: 1024, kib: 1024, mb: 1024 ** 2, m: 1024 ** 2, mib: 1024 ** 2, gb: 1024 ** 3, g: 1024 ** 3, gib: 1024 ** 3 } as const;
const SIZE = /^(\d+(?:\.\d+)?)\s*([a-z]+)?$/i;

/** "1mb", "512kb", "100b" or bare bytes → bytes (1 kb = 1024 b, as npm and Express count). */
export function parseSizeBytes(text: string): number | undefined {
  const match = SIZE.exec(text.trim());
  if (!match) return undefined;
  const unit = (match[2] ?? "b").toLowerCase() as keyof typeof UNIT_BYTES;
  if (!(unit in UNIT_BYTES)) return undefined;
  return Math.round(Number(match[1]) * UNIT_BYTES[unit]);
}

/** A size flag → bytes, within [min, max]. */
export const sizeFlag = (min = 1, max = 64 * 1024 ** 2) =>
  z
    .union([z.string(), z.number()])
    .transform((value, ctx) => {
      const bytes = typeof value === "number" ? value : parseSizeBytes(value);
      if (bytes === undefined) {
        ctx.addIssue({ code: "custom", message: `must be a size like 100kb, 1mb or 2048 (bytes) (got ${JSON.stringify(value)})` });
        return z.NEVER;
      }
      return bytes;
    })
    .pipe(z.number().min(min, `must be at least ${min} bytes`).max(max, `must be at most ${max} bytes (${max / 1024 ** 2} mb)`));
