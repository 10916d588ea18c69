// The provider-stable ids a Message can be deduplicated on, and how their
// stored values are namespaced.
//
// Namespacing scheme: `<provider>:<scope>:<id>`, for example
//   emailbison:ws-1:725              (EmailBison reply 725 in workspace 1)
//   smartlead:acme:<CAF...@mail.gmail.com>
//   instantly:51c0231c-...:0199e9d8-...
//   ghl:l1C08ntBrFjLS0elLIYU:m-123
//   unipile:dfXlh46vQYCsMbVarumWlg:ykmhfXlRW0W_cqReJYrfBw
// The seed application stored SmartLead and Instantly ids in the same
// columns as EmailBison's (emailBisonReplyId / inboxxiaScheduledEmailId), so
// a bare "725" from two providers could collide in one unique index and one
// provider's message would be silently dropped as a "duplicate" of another's.
// The prefix makes that impossible; the scope keeps ids that are only unique
// within a workspace (EmailBison's integers, GHL's per-location ids) apart.
// aiDraftId is our own UUID and is stored as is.
//
// Scopes chosen by the adapters (src/providers/<name>/index.ts explain why):
//   emailbison  "ws-<workspace_id>", plus "@<instance host>" when the payload
//               names its instance_url (e.g. ws-1@dedi.emailbison.com)
//   ghl         locationId
//   unipile     account_id
//   instantly   workspace (uuid)
//   smartlead   the ?clientId= value, else "key-" + 16 hex of sha256(secret_key)
// Without a workspace id in the payload, the ?clientId= value is the scope.
// Colons in a scope are replaced by "_" so the three parts stay separable.

// The key names live in src/db (they name columns); re-exported for the core.
import type { MessageUniqueKey } from "../db/message-keys.js";
export { MESSAGE_UNIQUE_KEYS, type MessageUniqueKey } from "../db/message-keys.js";

export const PROVIDER_PREFIXES = {
  EMAILBISON: "emailbison",
  GHL: "ghl",
  UNIPILE: "unipile",
  SMARTLEAD: "smartlead",
  INSTANTLY: "instantly",
} as const;

export type NamespacedProvider = keyof typeof PROVIDER_PREFIXES;

/** Builds the stored value for a provider id. `scope` is the provider-side workspace (or our client slug). */
export function buildStoredUniqueId(provider: NamespacedProvider, scope: string, id: string | number): string {
  const raw = String(id).trim();
  if (raw === "") throw new Error(`empty ${provider} message id`);
  return `${PROVIDER_PREFIXES[provider]}:${scope}:${raw}`;
}

/** The Postgres unique index Prisma creates for a Message key (used to match P2002s to keys). */
export function messageUniqueIndexName(key: MessageUniqueKey): string {
  return `Message_${key}_key`;
}
