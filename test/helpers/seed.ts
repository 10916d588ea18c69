import { randomUUID } from "node:crypto";
import type { Db } from "../../src/db/client.js";

export async function createClient(db: Db, overrides: Record<string, unknown> = {}) {
  const slug = `client-${randomUUID().slice(0, 8)}`;
  return db.client.create({ data: { slug, name: slug, ...overrides } });
}

export async function createLead(db: Db, clientId: string, email = `${randomUUID().slice(0, 8)}@example.com`) {
  return db.lead.create({ data: { clientId, email } });
}
