// The only module that reads process.env. Everything else receives values
// from here (or from validated command options), so tests can pass a plain
// object and nothing reads the environment behind the caller's back.
import path from "node:path";

export interface EnvConfig {
  /** DATABASE_URL: an external PostgreSQL; absent means the embedded one. */
  databaseUrl?: string;
  /** Where the embedded PostgreSQL keeps its data (DEDUPE_HOME, default ./.dedupe). */
  home: string;
  /** DEDUPE_VERBOSE=1 turns on dedupe-decision logs without --verbose. */
  verbose: boolean;
  /** CI=true: no progress bars, no colours. */
  ci: boolean;
  /** NO_COLOR set. */
  noColor: boolean;
  /** DEDUPE_DRAFTS_SECRET: the bearer secret serve's POST /api/drafts/<id>/send requires. */
  draftsSecret?: string;
  /** COLUMNS: the width tables and help are laid out for (else the terminal's, else 80). */
  columns?: number;
  /** GHL public keys override (PEM or base64 SPKI), for self-signed test deliveries. */
  ghlEd25519PublicKey?: string;
  ghlRsaPublicKey?: string;
}

export function readEnvConfig(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): EnvConfig {
  const nonEmpty = (v: string | undefined) => (v && v.trim() !== "" ? v.trim() : undefined);
  return {
    databaseUrl: nonEmpty(env.DATABASE_URL),
    home: path.resolve(cwd, nonEmpty(env.DEDUPE_HOME) ?? ".dedupe"),
    verbose: env.DEDUPE_VERBOSE === "1" || env.DEDUPE_VERBOSE === "true",
    ci: env.CI === "true" || env.CI === "1",
    noColor: env.NO_COLOR !== undefined && env.NO_COLOR !== "",
    draftsSecret: nonEmpty(env.DEDUPE_DRAFTS_SECRET),
    columns: /^\d+$/.test(env.COLUMNS ?? "") ? Number(env.COLUMNS) : undefined,
    ghlEd25519PublicKey: nonEmpty(env.GHL_ED25519_PUBLIC_KEY),
    ghlRsaPublicKey: nonEmpty(env.GHL_RSA_PUBLIC_KEY),
  };
}

/**
 * The environment a child process (initdb, postgres) inherits, with
 * `overrides` on top: children get ours unread, as a shell would pass it.
 */
export function buildChildEnv(overrides: Record<string, string>): NodeJS.ProcessEnv {
  return { ...process.env, ...overrides };
}
