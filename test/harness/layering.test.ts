// Layers point one way (src/db never imports src/core, src/harness,
// src/providers or src/cli) and src/harness has no import cycle, type-only
// imports included: a cycle there is how the harness came to depend on
// itself in a circle of nine files.
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const SRC = path.resolve("src");

function listTs(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === "generated" ? [] : listTs(full);
    return e.name.endsWith(".ts") ? [full] : [];
  });
}

/** Relative imports (static, dynamic and `export … from`) of one file, resolved to .ts paths. */
function readImports(file: string): string[] {
  const text = fs.readFileSync(file, "utf8");
  const specs = [...text.matchAll(/(?:from\s+|import\s*\(\s*)"(\.{1,2}\/[^"]+)"/g)].map((m) => m[1]!);
  return specs.map((s) => path.resolve(path.dirname(file), s).replace(/\.js$/, ".ts"));
}

/** One cycle in the graph restricted to `files`, or undefined. */
export function findCycle(files: readonly string[]): string[] | undefined {
  const inSet = new Set(files);
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (f: string): string[] | undefined => {
    if (state.get(f) === "done") return undefined;
    if (state.get(f) === "open") return [...stack.slice(stack.indexOf(f)), f];
    state.set(f, "open");
    stack.push(f);
    for (const dep of readImports(f)) {
      if (!inSet.has(dep)) continue;
      const cycle = visit(dep);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(f, "done");
    return undefined;
  };
  for (const f of files) {
    const cycle = visit(f);
    if (cycle) return cycle;
  }
  return undefined;
}

describe("layering", () => {
  it("src/db imports nothing from src/core, src/harness, src/providers or src/cli", () => {
    const offending = listTs(path.join(SRC, "db")).flatMap((f) =>
      readImports(f)
        .filter((dep) => /\/src\/(core|harness|providers|cli)\//.test(dep))
        .map((dep) => `${path.relative(SRC, f)} -> ${path.relative(SRC, dep)}`),
    );
    expect(offending).toEqual([]);
  });

  it("src/harness has no import cycle", () => {
    const cycle = findCycle(listTs(path.join(SRC, "harness")));
    expect(cycle?.map((f) => path.relative(SRC, f))).toBeUndefined();
  });

  it("the cycle finder finds a cycle (negative control)", () => {
    const dir = fs.mkdtempSync(path.join(fs.realpathSync(process.env.TMPDIR ?? "/tmp"), "cycle-"));
    fs.writeFileSync(path.join(dir, "a.ts"), 'import type { B } from "./b.js";\nexport type A = B;\n');
    fs.writeFileSync(path.join(dir, "b.ts"), 'import type { A } from "./a.js";\nexport type B = A | 1;\n');
    expect(findCycle([path.join(dir, "a.ts"), path.join(dir, "b.ts")])).toHaveLength(3);
  });
});
