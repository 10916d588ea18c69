// Deliberately broken HTTP receivers on the real schema, for the harness's
// negative controls over HTTP. Each one gets one thing wrong that `race
// --target` must catch:
//   check-then-create  findUnique, then create (core insertMessage with the
//                      racy strategy); an error answers 500, as a framework would
//   500-on-duplicate   ingests correctly but answers 500 to a duplicate
//   job-per-delivery   ingests correctly, then enqueues one more job per
//                      delivery with a random dedupeKey
//   correct            the real core ingest (positive control for this server)
import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { buildJobDedupeKey, enqueueBackgroundJob, ingestMessage, insertMessage } from "../../src/core/index.js";
import { openDb, warmPool, type DbHandle } from "../../src/db/client.js";
import { upsertLead } from "../../src/db/sql.js";
import { createClientResolver, type ClientResolver } from "../../src/providers/clients.js";
import { toIngestInput, type MessagePlan } from "../../src/providers/common.js";
import { planDeliveryFor, providerForPath } from "../../src/providers/registry.js";

export type RacyMode = "check-then-create" | "500-on-duplicate" | "job-per-delivery" | "correct";

export interface RacyReceiver {
  url: string;
  close(): Promise<void>;
}

export async function startRacyReceiver(databaseUrl: string, mode: RacyMode, poolSize = 55): Promise<RacyReceiver> {
  const db = openDb({ url: databaseUrl, poolSize, applicationName: `racy-${mode}` });
  const clients = createClientResolver(db.prisma);
  const server = createJsonServer(async (body, url): Promise<[number, unknown]> => {
    const routed = await routeDelivery(clients, body, url);
    if ("answer" in routed) return routed.answer;
    const { plan, clientId, input, row } = routed;
    let messageId: string;
    let deduped: boolean;
    if (mode === "check-then-create") {
      const lead = await upsertLead(db.prisma, clientId, plan.lead);
      const inserted = await insertMessage(db.prisma, { ...row, leadId: lead.id }, "check-then-create");
      for (const type of plan.jobTypes) {
        await enqueueBackgroundJob(db.prisma, { type, clientId, leadId: lead.id, messageId: inserted.messageId, dedupeKey: buildJobDedupeKey(clientId, inserted.messageId, type) });
      }
      ({ messageId, deduped } = inserted);
    } else {
      const result = await ingestMessage(db.prisma, input);
      ({ messageId, deduped } = result);
      if (mode === "500-on-duplicate" && deduped) return [500, { error: "duplicate" }];
      if (mode === "job-per-delivery" && plan.jobTypes[0]) {
        await enqueueBackgroundJob(db.prisma, { type: plan.jobTypes[0], clientId, leadId: result.leadId, messageId, dedupeKey: `${clientId}:${randomUUID()}` });
      }
    }
    return [200, { success: true, deduped, eventType: plan.eventType, messageId }];
  });
  return listenReceiver(server, db, poolSize);
}

/** A delivery the test receivers will ingest: its plan, its client and the row to insert. */
export interface RoutedDelivery {
  plan: MessagePlan;
  clientId: string;
  input: ReturnType<typeof toIngestInput>;
  /** What insertMessage takes, but the lead. */
  row: ReturnType<typeof toIngestInput> & { subject: string | null; key: MessagePlan["unique"]["key"]; value: string };
}

/**
 * The routing every test receiver does before its own logic: the provider
 * from the path, the plan, the client. Either the answer to give at once
 * (404 no route or client, 200 ignored) or the delivery to ingest.
 */
export async function routeDelivery(clients: ClientResolver, body: unknown, url: URL): Promise<{ answer: [number, unknown] } | RoutedDelivery> {
  const provider = providerForPath(url.pathname);
  if (!provider) return { answer: [404, { error: "no such route" }] };
  const plan = planDeliveryFor(provider, body, url);
  if (plan.kind === "ignored") return { answer: [200, { success: true, deduped: false, ignored: true, eventType: plan.eventType, messageId: null }] };
  const clientId = (await clients.resolve(plan.client))?.id;
  if (!clientId) return { answer: [404, { error: "unknown client" }] };
  const input = toIngestInput(plan, clientId);
  return { plan, clientId, input, row: { ...input, subject: plan.subject, key: input.unique.key, value: input.unique.value } };
}

/** A JSON-in, JSON-out node:http server around `handle`; a throw answers 500 with the message, as a framework would. */
export function createJsonServer(handle: (body: unknown, url: URL) => Promise<[number, unknown]>): http.Server {
  return http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let status: number;
    let answer: unknown;
    try {
      [status, answer] = await handle(JSON.parse(Buffer.concat(chunks).toString("utf8")), new URL(req.url ?? "/", "http://receiver.local"));
    } catch (error) {
      [status, answer] = [500, { error: String((error as Error).message ?? error).slice(0, 200) }];
    }
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(answer));
  });
}

/** Listens on a free port with a warmed pool; close() stops the server, waits for `beforeDbClose`, then closes the pool. */
export async function listenReceiver(server: http.Server, db: DbHandle, poolSize: number, beforeDbClose?: () => Promise<unknown>): Promise<RacyReceiver> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  // Warm the pool so the race meets open connections, as `serve` would after traffic.
  await warmPool(db.pool, Math.min(50, poolSize));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await beforeDbClose?.();
      await db.close();
    },
  };
}
