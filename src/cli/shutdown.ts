// SIGINT/SIGTERM handling shared by every command. A command that can stop
// gracefully (serve, drain-jobs, race) watches `signal`; for all others the
// first signal runs the cleanups (stopping the embedded PostgreSQL) and
// exits. A second signal always exits at once.

export class Shutdown {
  private readonly controller = new AbortController();
  private readonly cleanups: Array<() => Promise<void>> = [];
  private graceful = false;
  private installed = false;

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The command will notice `signal` and wind down by itself. */
  handleGracefully(): void {
    this.graceful = true;
  }

  addCleanup(cleanup: () => Promise<void>): void {
    this.cleanups.push(cleanup);
  }

  async runCleanups(): Promise<void> {
    while (this.cleanups.length > 0) {
      const cleanup = this.cleanups.pop()!;
      await cleanup().catch(() => undefined);
    }
  }

  install(stderr: NodeJS.WritableStream = process.stderr): void {
    if (this.installed) return;
    this.installed = true;
    const onSignal = (name: NodeJS.Signals) => {
      if (this.controller.signal.aborted) {
        stderr.write(`\n${name} again: exiting now.\n`);
        process.exit(130);
      }
      this.controller.abort(new Error(name));
      if (this.graceful) {
        stderr.write(`\n${name}: finishing in-flight work (press Ctrl-C again to exit now)...\n`);
        return;
      }
      void this.runCleanups().finally(() => process.exit(130));
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  }
}
