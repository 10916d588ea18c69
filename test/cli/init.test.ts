// dedupe-cli init reads a Prisma schema with Prisma's own parser and writes a
// valid, commented dedupe.config.ts: what it can infer, a TODO for the rest.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT, runBin } from "../helpers/cli.js";

const SCHEMA = path.join(ROOT, "examples", "foreign-app", "schema.prisma");

describe("init", { timeout: 120_000 }, () => {
  it("infers the example app's mapping (@map/@@map, relations, unique stored ids, client columns) and marks the rest TODO", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dedupe-init-"));
    const r = await runBin(["init", "--prisma", SCHEMA], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/wrote dedupe\.config\.ts .*\(4 models\); \d+ TODO\(s\)/);
    const text = fs.readFileSync(path.join(dir, "dedupe.config.ts"), "utf8");
    expect(text).toContain('messages: { table: "inbound_messages", id: "id", leadId: "contact_id" }');
    expect(text).toContain('leads: { table: "contacts", id: "id", clientId: "workspace_id", identity: { email: "email_address" } }');
    expect(text).toContain('storedId: { column: "bison_reply_id", derive: "bare" }');
    expect(text).toContain('client: { column: "instantly_workspace_id" }');
    expect(text).toContain('jobs: { table: "jobs", id: "id", type: "kind", messageId: "message_id", dedupeKey: "job_key", status: "state", attempts: "tries" }');
    expect(text).toMatch(/TODO: your app's path/);
    // A second init does not overwrite without --force.
    const again = await runBin(["init", "--prisma", SCHEMA], { cwd: dir });
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/dedupe\.config\.ts exists/);
  });

  it("without --prisma, reads the schema path that prisma.config.* names (as Prisma 7 does)", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dedupe-init-"));
    fs.mkdirSync(path.join(dir, "db"));
    fs.copyFileSync(SCHEMA, path.join(dir, "db", "app.prisma"));
    // A decoy at the fallback path: picking it would show the config was not read.
    fs.mkdirSync(path.join(dir, "prisma"));
    fs.writeFileSync(path.join(dir, "prisma", "schema.prisma"), "model X { id Strin @id }\n");
    fs.writeFileSync(path.join(dir, "prisma.config.mjs"), 'export default { schema: "db/app.prisma" };\n');
    const r = await runBin(["init"], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/wrote dedupe\.config\.ts from db\/app\.prisma \(4 models\)/);
  });

  it("a stored id unique per client (@@unique) is found too, and its scope is said", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dedupe-init-"));
    const schema = [
      'datasource db {\n  provider = "postgresql"\n}',
      "model Workspace {\n  id String @id @default(cuid())\n  replies Reply[]\n}",
      "model Reply {\n  id String @id @default(cuid())\n  workspaceId String\n  workspace Workspace @relation(fields: [workspaceId], references: [id])\n  emailBisonReplyId String\n  body String\n  @@unique([workspaceId, emailBisonReplyId])\n  @@map(\"replies\")\n}",
      "model Plain {\n  id String @id\n  note String\n}",
    ].join("\n\n");
    fs.writeFileSync(path.join(dir, "schema.prisma"), `${schema}\n`);
    const r = await runBin(["init", "--prisma", "schema.prisma"], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const text = fs.readFileSync(path.join(dir, "dedupe.config.ts"), "utf8");
    expect(text).toContain('storedId: { column: "emailBisonReplyId", derive: "bare" }');
    expect(text).toContain("unique together with workspaceId (@@unique)");
    // Negative control: a plain, non-unique column is never offered as a stored id.
    expect(text).not.toMatch(/storedId: \{ column: "(body|note)"/);
  });

  it("an invalid Prisma schema is exit 2 naming the file", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dedupe-init-"));
    fs.writeFileSync(path.join(dir, "bad.prisma"), "model X { id Strin @id }\n");
    const r = await runBin(["init", "--prisma", "bad.prisma"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bad\.prisma is not a valid Prisma schema/);
  });
});
