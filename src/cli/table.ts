// Text layout that fits the terminal: tables whose columns shrink to the
// width available, cells wrapped at word boundaries (a token is never split:
// "aiDrafts" stays whole), and, when even that cannot fit, each row stacked
// as "column: value" lines. Used by every table the CLI prints.

export interface TableOptions {
  head: readonly string[];
  rows: ReadonlyArray<readonly string[]>;
  /** Total width available, borders included (default 80). */
  width?: number;
  /** Colour the header (ANSI cyan); only on a terminal. */
  color?: boolean;
}

/** The longest word of a text: the narrowest a column holding it can be without splitting a token. */
function longestToken(text: string): number {
  return Math.max(1, ...text.split(/\s+/).map((t) => t.length));
}

/**
 * Wraps one line at word boundaries to `width`. Continuation lines keep the
 * line's indent (plus 4 under a "$ command" example line, or the second
 * column's start for "name    description" lines). A token longer than the
 * width stays whole on its own line.
 */
export function wrapText(line: string, width: number, options: { hang?: string } = {}): string {
  if (line.length <= width) return line;
  const indent = /^\s*/.exec(line)![0];
  const twoColumn = /^(\s*\S+(?: \S+)?\s{2,})\S/.exec(line);
  let hang = indent;
  if (options.hang !== undefined) hang = options.hang;
  else if (/^\s*\$ /.test(line)) hang = `${indent}    `;
  else if (twoColumn && twoColumn[1]!.length < width / 2) hang = " ".repeat(twoColumn[1]!.length);
  const out: string[] = [];
  let current = indent;
  let empty = true;
  // Words with the spacing before each, so aligned comments keep their columns.
  for (const [, gap, word] of line.slice(indent.length).matchAll(/(\s*)(\S+)/g)) {
    if (!empty && current.length + gap!.length + word!.length > width) {
      out.push(current);
      current = hang + word;
      continue;
    }
    current = empty ? current + word : current + gap + word;
    empty = false;
  }
  out.push(current);
  return out.join("\n");
}

/** Splits a cell into lines of at most `width` (its own newlines kept), at word boundaries. */
export function wrapCell(text: string, width: number): string[] {
  const lines: string[] = [];
  for (const paragraph of text.split("\n")) {
    let current = "";
    for (const word of paragraph.split(/ +/)) {
      if (current !== "" && current.length + 1 + word.length > width) {
        lines.push(current);
        current = word;
      } else {
        current = current === "" ? word : `${current} ${word}`;
      }
    }
    lines.push(current);
  }
  return lines;
}

/**
 * Column widths that fit `available` content characters: each column wants
 * its longest line and needs at least its longest token; the widest columns
 * give way first. Undefined when even the minimums do not fit.
 */
export function fitColumns(want: readonly number[], need: readonly number[], available: number): number[] | undefined {
  const widths = [...want];
  let excess = widths.reduce((a, b) => a + b, 0) - available;
  while (excess > 0) {
    let widest = -1;
    for (let i = 0; i < widths.length; i++) {
      if (widths[i]! > need[i]! && (widest < 0 || widths[i]! > widths[widest]!)) widest = i;
    }
    if (widest < 0) return undefined;
    widths[widest]!--;
    excess--;
  }
  return widths;
}

/** A boxed table no wider than `width`, or the rows stacked when the columns cannot fit. */
export function renderTextTable(options: TableOptions): string {
  const width = options.width ?? 80;
  const cols = options.head.length;
  const all = [options.head, ...options.rows];
  const want = Array.from({ length: cols }, (_, i) => Math.max(1, ...all.map((r) => Math.max(...(r[i] ?? "").split("\n").map((l) => l.length)))));
  const need = Array.from({ length: cols }, (_, i) => Math.max(...all.map((r) => longestToken(r[i] ?? ""))));
  // Borders: "│ " + cells joined by " │ " + " │".
  const widths = fitColumns(want, need, width - (3 * cols + 1));
  if (!widths) return renderStacked(options, width);
  const paint = (s: string) => (options.color ? `\x1b[36m${s}\x1b[39m` : s);
  const rule = (l: string, m: string, r: string) => `${l}${widths.map((w) => "─".repeat(w + 2)).join(m)}${r}`;
  const renderRow = (row: readonly string[], head = false) => {
    const cells = widths.map((w, i) => wrapCell(row[i] ?? "", w));
    const height = Math.max(...cells.map((c) => c.length));
    const lines: string[] = [];
    for (let k = 0; k < height; k++) {
      lines.push(`│ ${cells.map((c, i) => (head ? paint : (s: string) => s)((c[k] ?? "").padEnd(widths[i]!))).join(" │ ")} │`);
    }
    return lines;
  };
  return [rule("┌", "┬", "┐"), ...renderRow(options.head, true), rule("├", "┼", "┤"), ...options.rows.flatMap((r) => renderRow(r)), rule("└", "┴", "┘")].join("\n");
}

/**
 * Each row as one paragraph, "first: head value; head value; ...", wrapped
 * at word boundaries with a hanging indent: the layout of last resort when
 * a cell's longest token leaves no room for the other columns.
 */
function renderStacked(options: TableOptions, width: number): string {
  return options.rows
    .map((row) => {
      const rest = options.head
        .slice(1)
        .map((h, i) => [h, row[i + 1] ?? ""] as const)
        .filter(([, value]) => value !== "")
        .map(([h, value]) => `${h} ${value.replace(/\n/g, " ")}`);
      return wrapText(`${row[0] ?? ""}: ${rest.join("; ")}`, width, { hang: "  " });
    })
    .join("\n");
}
