#!/usr/bin/env node
// Thin entry: run the CLI, and map its error kinds to exit codes. This is the
// only place error kinds become exit codes.
//   0  every invariant held / command succeeded
//   1  an invariant was violated
//   2  usage or configuration error (nothing was written)
//   3  inconclusive (the run could not reach a trustworthy verdict)
// 130 (interrupted) is the one code decided elsewhere: src/cli/shutdown.ts
// exits with it on a SIGINT/SIGTERM the running command cannot wind down
// from gracefully, and on a second signal. Commands that stop gracefully
// (serve, capture, drain-jobs, race, replay, verify) wind down on the first
// signal and end with one of the codes above.
import { runCli } from "../dist/cli/main.js";

const EXIT_CODES = { invariant: 1, usage: 2, config: 2, inconclusive: 3 };

// `dedupe-cli ... | head` closes stdout early; that is not a failure.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error) => {
    if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw error;
  });
}

try {
  await runCli(process.argv);
} catch (error) {
  const kind = error && typeof error === "object" ? error.kind : undefined;
  if (kind && kind in EXIT_CODES) {
    if (!error.reported) {
      process.stderr.write(`error: ${error.message}\n`);
      if (error.hint) process.stderr.write(`${error.hint}\n`);
    }
    process.exitCode = EXIT_CODES[kind];
  } else {
    process.stderr.write(`dedupe-cli: unexpected failure, no verdict reached: ${error?.stack ?? error}\n`);
    process.exitCode = 3;
  }
}
