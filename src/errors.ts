// The few error classes the CLI distinguishes. Library code throws these;
// only bin/ turns them into exit codes (see EXIT_CODES there), so that the
// core stays usable from other programs.

export type ErrorKind = "usage" | "config" | "invariant" | "inconclusive";

export class DedupeCliError extends Error {
  readonly kind: ErrorKind;
  /** What the user should do next, printed under the message. */
  readonly hint?: string;
  constructor(kind: ErrorKind, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.kind = kind;
    this.hint = options.hint;
  }
}

/** Bad flags or arguments: nothing was written. */
export class UsageError extends DedupeCliError {
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super("usage", message, options);
  }
}

/** The environment is not usable: database unreachable, wrong credentials, not migrated, bad fixture. */
export class ConfigError extends DedupeCliError {
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super("config", message, options);
  }
}

/** The receiver broke a promise it must keep (duplicate rows, a 5xx, a lost job). */
export class InvariantViolationError extends DedupeCliError {
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super("invariant", message, options);
  }
}

/** The run could not tell: too little concurrency or too wide a release spread to trust a pass. */
export class InconclusiveError extends DedupeCliError {
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super("inconclusive", message, options);
  }
}
