// --help for every command, decided in one place: each default shown once
// and plainly ("(default: 50)", never "(default: false)" or a quoted
// number), required options marked, exit codes on every command, and every
// line (commander's and our epilogs) wrapped to the terminal at word
// boundaries.
import type { Command, Help, Option } from "commander";
import { wrapText } from "./table.js";

/** Commands whose own epilog states their exit codes (they differ from the generic ones). */
const OWN_EXIT_CODES = new Set(["race", "replay", "verify", "drain-jobs"]);

const RECEIVER_EXIT_CODES =
  "Exit codes: 0 stopped by Ctrl-C or SIGTERM after in-flight requests finished, 2 usage or configuration error (bad flag, port in use, unusable database or output folder), 130 a second Ctrl-C.";
const DATABASE_EXIT_CODES =
  "Exit codes: 0 done, 2 usage or configuration error (bad flag or file, database unreachable, refused or not migrated; nothing written), 130 interrupted.";

/** Option help: the description, then "(required)" or "(default: x)" unless the description already says. */
export function describeOption(option: Option): string {
  const text = option.description ?? "";
  if (option.mandatory) return `${text} (required)`;
  const value = option.defaultValue as unknown;
  // A boolean flag's false is not a default anyone needs told; a --no-x flag's true neither.
  if (value === undefined || typeof value === "boolean" || /\bdefault\b/i.test(text)) return text;
  const shown = option.defaultValueDescription ?? (Array.isArray(value) ? value.join(", ") : String(value));
  return `${text} (default: ${shown})`;
}

/** The exit-code line a command's help ends with, or undefined when its own epilog has them. */
export function describeExitCodes(command: Command): string | undefined {
  const path: string[] = [];
  for (let c: Command | null = command; c?.parent; c = c.parent) path.unshift(c.name());
  if (path.length === 0 || OWN_EXIT_CODES.has(path[0]!)) return undefined;
  return path[0] === "serve" || path[0] === "capture" ? RECEIVER_EXIT_CODES : DATABASE_EXIT_CODES;
}

/** The width help and tables are laid out for: $COLUMNS, else the terminal's, else 80. */
export function resolveWidth(columns: number | undefined, ttyColumns: number | undefined): number {
  const width = columns ?? ttyColumns ?? 80;
  return Math.max(40, Math.min(width, 200));
}

/** Installs the help conventions on the root command; subcommands created after this inherit them. */
export function configureHelpConventions(program: Command, width: number): void {
  program.configureHelp({
    helpWidth: width,
    optionDescription: (option: Option) => describeOption(option),
  } as Partial<Help>);
  program.addHelpText("afterAll", ({ command }) => {
    const codes = describeExitCodes(command);
    return codes ? `\n${wrapText(codes, width)}` : "";
  });
}

/**
 * Wraps everything help writes (commander's own text is already wrapped).
 * Epilog prose hand-wrapped for a wider terminal is reflowed first: a
 * non-indented line too wide for this one takes the non-indented lines
 * that continue it, so a paragraph wraps as one instead of going ragged.
 */
export function wrapHelpOutput(text: string, width: number): string {
  const lines = text.split("\n");
  const out: string[] = [];
  const isProse = (line: string | undefined) => line !== undefined && /^[^\s$]/.test(line);
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    while (line.length > width && isProse(line) && isProse(lines[i + 1])) line = `${line} ${lines[++i]}`;
    out.push(line.length > width ? wrapText(line, width) : line);
  }
  return out.join("\n");
}
