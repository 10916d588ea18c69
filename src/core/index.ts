// Public surface of the ingestion core, for programs that embed it.
export * from "./unique-keys.js";
export * from "./prisma-errors.js";
export * from "./messages.js";
export * from "./jobs.js";
export * from "./ingest.js";
export * from "./drafts.js";
export * from "./log.js";
