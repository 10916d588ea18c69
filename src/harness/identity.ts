// Fresh lead identities for race rounds. Re-keying only the message id lets
// every round after the first reuse the lead the first one created, so a
// find-then-create lead resolution is raced once per fresh database and
// never again. Every string in the payload that carries the lead's identity
// (the email, phone, contact or LinkedIn id the plan resolved the lead by)
// is replaced with a value derived from a fresh tag, so each round also
// races the creation of a new lead.
import { randomInt, randomUUID } from "node:crypto";
import type { LeadRef } from "../db/sql.js";

type Json = Record<string, unknown> | unknown[];

/** How a payload string is compared with the plan's (normalised) identity value. */
function normaliseFor(key: LeadRef["key"], value: string): string {
  if (key === "email") return value.trim().toLowerCase();
  if (key === "phone") return value.replace(/\D/g, "");
  return value;
}

/** A fresh identity of the same kind, recognisably dedupe-cli's. */
function buildFreshIdentity(key: LeadRef["key"]): string {
  const tag = randomUUID().slice(0, 18);
  switch (key) {
    case "email":
      return `race-${tag}@dedupe.invalid`;
    case "phone":
      // +1 555 01xx is reserved for fiction; the rest random enough for a run.
      return `+1555${String(randomInt(0, 10_000_000)).padStart(7, "0")}`;
    default:
      return `race-${tag}`;
  }
}

/**
 * Returns a copy of `body` with every string equal (as the provider would
 * normalise it) to the lead identity replaced by a fresh one, or undefined
 * when no string carries it (the caller keeps the body and says so).
 */
export function rekeyLeadIdentity(body: unknown, lead: LeadRef): { body: unknown; value: string } | undefined {
  const wanted = normaliseFor(lead.key, lead.value);
  if (wanted === "") return undefined;
  const fresh = buildFreshIdentity(lead.key);
  let replaced = 0;
  const walk = (node: unknown): unknown => {
    if (typeof node === "string") {
      if (normaliseFor(lead.key, node) !== wanted) return node;
      replaced++;
      return fresh;
    }
    if (Array.isArray(node)) return node.map(walk);
    if (typeof node === "object" && node !== null) return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, walk(v)]));
    return node;
  };
  const copy = walk(body as Json);
  return replaced > 0 ? { body: copy, value: fresh } : undefined;
}
