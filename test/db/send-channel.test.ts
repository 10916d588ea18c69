// SendChannel: a statement is reported sent only when its bytes have left
// the process; busy and dropped connections send nothing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Prisma } from "../../src/generated/prisma/client.js";
import { SendChannel } from "../../src/db/send-channel.js";
import { useTestDb } from "../helpers/db.js";

const db = await useTestDb(4);
let channel: SendChannel;

beforeAll(async () => {
  channel = (await SendChannel.open(db.pool, 2, "send-channel test"))!;
});

afterAll(async () => {
  await channel?.close();
});

const settledWithin = <T>(promise: Promise<T>, ms: number) =>
  Promise.race([promise.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms))]);

describe("SendChannel", () => {
  it("reports a statement sent on an idle connection, and answers it", async () => {
    const sent = channel.trySend<{ n: number }>(Prisma.sql`SELECT ${41}::int + 1 AS "n"`);
    expect(sent?.sent).toBe(true);
    expect(await sent!.rows).toEqual([{ n: 42 }]);
  });

  it("sends nothing when every connection is busy, and says when one frees up", async () => {
    const a = channel.trySend(Prisma.sql`SELECT pg_sleep(0.3)`);
    const b = channel.trySend(Prisma.sql`SELECT pg_sleep(0.3)`);
    expect(a?.sent && b?.sent).toBe(true);
    expect(channel.trySend(Prisma.sql`SELECT 1`)).toBeUndefined();
    await channel.whenIdle();
    expect(channel.trySend(Prisma.sql`SELECT 1`)?.sent).toBe(true);
    await Promise.all([a!.rows, b!.rows]);
  });

  it("drops a connection the server ends; with none left it sends nothing and does not wait", async () => {
    const own = (await SendChannel.open(db.pool, 1, "send-channel drop test"))!;
    expect(own.size).toBe(1);
    await db.pool.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'send-channel drop test'`);
    for (let i = 0; i < 100 && own.size > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(own.size).toBe(0);
    expect(own.trySend(Prisma.sql`SELECT 1`)).toBeUndefined();
    expect(await settledWithin(own.whenIdle(), 1_000)).toBe(true);
    await own.close();
  });
});
