// Provider authentication primitives. Secrets are compared as sha256 digests
// with timingSafeEqual, so neither their content nor their length leaks
// through timing; nothing here logs or returns a secret.
import { createHash, createPublicKey, timingSafeEqual, verify, type KeyObject } from "node:crypto";
import type { ClientSecretColumn } from "../db/clients.js";
import type { ResolvedClient } from "./adapter.js";
import { WebhookAuthError } from "./errors.js";
import { GHL_PUBLISHED_ED25519_PUBLIC_KEY, GHL_PUBLISHED_RSA_PUBLIC_KEY } from "./ghl/keys.js";

/** True when `given` equals `expected`; false when either is missing or empty. */
export function compareSecret(given: string | null | undefined, expected: string | null | undefined): boolean {
  if (!given || !expected) return false;
  const a = createHash("sha256").update(given, "utf8").digest();
  const b = createHash("sha256").update(expected, "utf8").digest();
  return timingSafeEqual(a, b);
}

/** True when any candidate matches (a secret may arrive in the body, a header or a bearer token). */
function matchesAnySecret(candidates: Array<string | null | undefined>, expected: string | null | undefined): boolean {
  let matched = false;
  // Compare every candidate so the time taken does not say which one matched.
  for (const candidate of candidates) if (compareSecret(candidate, expected)) matched = true;
  return matched;
}

/**
 * The shared-secret check every secret-based provider makes against the
 * resolved client. The log reason says which secret is missing or wrong and
 * how to set it, never its value; the answer only how the caller sends it.
 * Throws WebhookAuthError.
 */
export function requireSecret(
  client: ResolvedClient,
  column: ClientSecretColumn,
  given: Array<string | null | undefined>,
  names: { provider: string; sentAs: string; flag: string },
): void {
  const expected = client[column];
  if (!given.some(Boolean)) throw new WebhookAuthError(`missing ${names.provider} secret: send it as ${names.sentAs}`);
  // An unconfigured secret is answered like a wrong one: whether a client
  // has a secret set is the operator's business, said in the log only.
  const mismatch = `${names.provider} secret does not match (sent as ${names.sentAs})`;
  if (!expected) {
    throw new WebhookAuthError(`client ${client.slug} has no ${names.provider} webhook secret configured (dedupe-cli clients add --slug ${client.slug} ${names.flag} <secret>)`, mismatch);
  }
  if (!matchesAnySecret(given, expected)) throw new WebhookAuthError(`${names.provider} secret does not match client ${client.slug}'s (sent as ${names.sentAs})`, mismatch);
}

/** Header value, with GHL's literal "N/A" (and blanks) treated as absent. */
export function readHeader(headers: Headers, name: string): string | undefined {
  const value = headers.get(name)?.trim();
  if (!value || value.toUpperCase() === "N/A") return undefined;
  return value;
}

export function readBearerToken(headers: Headers): string | undefined {
  const match = /^Bearer\s+(.+)$/i.exec(headers.get("authorization") ?? "");
  return match?.[1]?.trim() || undefined;
}

/**
 * A public key from configuration: PEM, PEM with literal "\n" (env files), or
 * bare base64 SPKI DER. Empty or "N/A" means "not configured" (undefined).
 */
export function parsePublicKey(value: string | undefined | null): KeyObject | undefined {
  const trimmed = value?.trim();
  if (!trimmed || trimmed.toUpperCase() === "N/A") return undefined;
  const text = trimmed.replace(/\\n/g, "\n").replace(/^["']|["']$/g, "");
  if (text.includes("-----BEGIN")) return createPublicKey(text);
  return createPublicKey({ key: Buffer.from(text.replace(/\s+/g, ""), "base64"), format: "der", type: "spki" });
}

export interface GhlKeys {
  ed25519: KeyObject;
  rsa: KeyObject;
}

/** Configured keys, else GHL's published ones. Throws on a key that does not parse (a config error worth failing fast on). */
export function resolveGhlKeys(config: { ghlEd25519PublicKey?: string; ghlRsaPublicKey?: string }): GhlKeys {
  return {
    ed25519: parsePublicKey(config.ghlEd25519PublicKey) ?? createPublicKey(GHL_PUBLISHED_ED25519_PUBLIC_KEY),
    rsa: parsePublicKey(config.ghlRsaPublicKey) ?? createPublicKey(GHL_PUBLISHED_RSA_PUBLIC_KEY),
  };
}

type GhlSignatureResult = { ok: true; scheme: "ed25519" | "rsa-sha256" } | { ok: false; reason: string };

/**
 * X-GHL-Signature (Ed25519) first; the legacy X-WH-Signature (RSA-SHA256)
 * only when the Ed25519 header is absent. A present but invalid Ed25519
 * signature fails outright: it must not downgrade to the legacy scheme.
 * Both are verified over the exact raw body bytes.
 */
export function verifyGhlSignature(rawBody: Uint8Array, headers: Headers, keys: GhlKeys): GhlSignatureResult {
  const ed = readHeader(headers, "x-ghl-signature");
  if (ed) {
    return safeVerify(() => verify(null, rawBody, keys.ed25519, Buffer.from(ed, "base64")))
      ? { ok: true, scheme: "ed25519" }
      : { ok: false, reason: "X-GHL-Signature does not verify against the configured Ed25519 public key" };
  }
  const rsa = readHeader(headers, "x-wh-signature");
  if (rsa) {
    return safeVerify(() => verify("sha256", rawBody, keys.rsa, Buffer.from(rsa, "base64")))
      ? { ok: true, scheme: "rsa-sha256" }
      : { ok: false, reason: "X-WH-Signature does not verify against the configured RSA public key" };
  }
  return { ok: false, reason: "missing signature: send X-GHL-Signature (Ed25519) or X-WH-Signature (RSA-SHA256)" };
}

function safeVerify(check: () => boolean): boolean {
  try {
    return check();
  } catch {
    // A malformed signature (wrong length, not base64) is a failed verification, not a 500.
    return false;
  }
}
