// Preloaded into a CLI run by bench/memory (node --import): prints the
// process's peak resident set on stderr as it exits, however it exits.
import { writeSync } from "node:fs";

process.on("exit", () => writeSync(2, `\npeak-rss-kb ${process.resourceUsage().maxRSS}\n`));
