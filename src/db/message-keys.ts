// The Message columns a provider-stable id can be deduplicated on. Declared
// in src/db (they are column names) so the db layer imports nothing from
// src/core; src/core/unique-keys.ts re-exports them with the namespacing.
export const MESSAGE_UNIQUE_KEYS = [
  "emailBisonReplyId",
  "inboxxiaScheduledEmailId",
  "ghlId",
  "unipileMessageId",
  "aiDraftId",
] as const;

export type MessageUniqueKey = (typeof MESSAGE_UNIQUE_KEYS)[number];
