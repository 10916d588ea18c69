// Runs the real bin/ with --json and parses its stdout, for the harness
// commands' tests. json is undefined when stdout was not one JSON object
// (a usage error prints nothing there), so a test can assert on both.
import { runBin, type BinOptions, type CliResult } from "./cli.js";

export async function runBinJson<T>(args: string[], options: BinOptions = {}): Promise<CliResult & { json: T | undefined }> {
  const result = await runBin(args, options);
  let json: T | undefined;
  try {
    json = JSON.parse(result.stdout) as T;
  } catch {
    json = undefined;
  }
  return { ...result, json };
}
