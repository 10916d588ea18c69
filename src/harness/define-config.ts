// `import { defineConfig } from "dedupe-cli/config"`: types a
// dedupe.config.ts the way vitest.config.ts and prisma.config.ts are typed.
// Runtime-free on purpose (an identity function): the file is validated when
// dedupe-cli loads it, so importing this costs a config nothing.
import type { DedupeConfig } from "./config-schema.js";

export type { AnswerFunction, DedupeConfig, DeriveContext, JobKeyContext, JobKeyFunction, ReadAnswer, StoredIdFunction } from "./config-schema.js";

export function defineConfig(config: DedupeConfig): DedupeConfig {
  return config;
}
