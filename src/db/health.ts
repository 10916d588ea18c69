// What /healthz asks the database: not just "does a connection answer" but
// "can the tables deliveries write be read", so a receiver whose data
// directory was deleted or whose schema is gone reports unhealthy instead of
// answering 200 while every delivery gets a 500.
import type { Db } from "./client.js";

export async function checkDatabaseHealth(db: Db): Promise<{ ok: true } | { ok: false; error: string }> {
  try {
    await db.$queryRaw`SELECT 1 FROM "Client" LIMIT 1`;
    await db.$queryRaw`SELECT 1 FROM "Message" LIMIT 1`;
    return { ok: true };
  } catch (error) {
    return { ok: false, error: (error as Error)?.message?.split("\n").pop()?.slice(0, 200) ?? String(error) };
  }
}
