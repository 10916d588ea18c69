// Error recognition against errors the real driver adapter produces.
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createJsonLogger, ingestMessage, isPrismaConnectionError, isPrismaUniqueConstraintError, readUniqueViolation } from "../../src/core/index.js";
import { openDb } from "../../src/db/client.js";
import { useTestDb } from "../helpers/db.js";
import { buildIngestInput, createClient } from "../helpers/seed.js";

const db = await useTestDb(5);

describe("isPrismaUniqueConstraintError", () => {
  it("reads the violated index from the driver-adapter error shape", async () => {
    const client = await createClient(db.prisma);
    const lead = await db.prisma.lead.create({ data: { clientId: client.id, email: "a@example.com" } });
    const data = { clientId: client.id, leadId: lead.id, provider: "GHL" as const, channel: "SMS" as const, direction: "INBOUND" as const, body: "x", sentAt: new Date(), ghlId: `ghl:loc:${randomUUID()}` };
    await db.prisma.message.create({ data });
    const error = await db.prisma.message.create({ data }).catch((e: unknown) => e);
    expect((error as { code?: string }).code).toBe("P2002");
    expect(readUniqueViolation(error)?.constraint ?? readUniqueViolation(error)?.fields.join()).toMatch(/ghlId/);
    expect(isPrismaUniqueConstraintError(error)).toBe(true);
    expect(isPrismaUniqueConstraintError(error, { index: "Message_ghlId_key", field: "ghlId" })).toBe(true);
    // A violation of another key is not a dedupe of this one.
    expect(isPrismaUniqueConstraintError(error, { index: "Message_emailBisonReplyId_key", field: "emailBisonReplyId" })).toBe(false);
    expect(isPrismaConnectionError(error)).toBe(false);
  });

  it("is false for non-errors and other codes", () => {
    expect(isPrismaUniqueConstraintError(undefined)).toBe(false);
    expect(isPrismaUniqueConstraintError(new Error("P2002"))).toBe(false);
    expect(isPrismaUniqueConstraintError({ code: "P2025" })).toBe(false);
  });
});

describe("isPrismaConnectionError", () => {
  it("recognises a database that is not there", async () => {
    const dead = openDb({ url: "postgresql://postgres@127.0.0.1:1/nothing", poolSize: 1 });
    try {
      const error = await dead.prisma.client.count().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      expect(isPrismaConnectionError(error)).toBe(true);
      expect(isPrismaUniqueConstraintError(error)).toBe(false);
    } finally {
      await dead.close();
    }
  });
});

describe("isPrismaConnectionError on raw pg errors (the hot statement skips Prisma)", () => {
  it("recognises a database that does not exist, through ingestMessage", async () => {
    const url = new URL(db.database.url);
    url.pathname = `/dedupe_missing_${randomUUID().slice(0, 8)}`;
    const missing = openDb({ url: url.toString(), poolSize: 1 });
    try {
      const error = await ingestMessage(missing.prisma, buildIngestInput(randomUUID())).catch((e: unknown) => e);
      expect((error as { code?: string }).code).toBe("3D000");
      expect(isPrismaConnectionError(error)).toBe(true);
    } finally {
      await missing.close();
    }
  });

  it("recognises SQLSTATE class 08 and too many connections, and nothing else by code", () => {
    for (const code of ["08006", "08001", "53300", "57P02"]) expect(isPrismaConnectionError({ code }), code).toBe(true);
    for (const code of ["23505", "42P01", "0800"]) expect(isPrismaConnectionError({ code }), code).toBe(false);
  });
});

describe("dedupe decision log", () => {
  it("writes one JSON line per decision with the fields operators filter on", async () => {
    const client = await createClient(db.prisma);
    const lines: string[] = [];
    const logger = createJsonLogger((line) => lines.push(line));
    const input = buildIngestInput(client.id, {
      body: "hi",
      sentAt: new Date(),
      unique: { key: "emailBisonReplyId", value: `emailbison:1:${randomUUID()}` },
      lead: { key: "email", value: "log@example.com" },
    });
    await ingestMessage(db.prisma, input, { logger });
    await ingestMessage(db.prisma, input, { logger });
    expect(lines).toHaveLength(2);
    const [first, second] = lines.map((l) => JSON.parse(l));
    for (const entry of [first, second]) {
      expect(entry).toMatchObject({
        eventType: "LEAD_REPLIED",
        provider: "EMAILBISON",
        uniqueKey: "emailBisonReplyId",
        uniqueValue: input.unique.value,
        clientId: client.id,
      });
      expect(entry.leadId).toMatch(/^[0-9a-f-]{36}$/);
    }
    expect([first.deduped, second.deduped]).toEqual([false, true]);
    expect(second.msg).toBe("dedupe hit");
  });
});
