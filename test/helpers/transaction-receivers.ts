// Two receivers for the crash-window step's exemption, alike but for one
// thing: where the jobs are written. Neither re-ensures jobs on a duplicate.
//   one-transaction   message and jobs committed together: no crash can
//                     separate them, so not re-ensuring is correct
//   two-transactions  message committed, then jobs in a second transaction:
//                     a crash between the two loses the jobs for good
import { buildJobDedupeKey, enqueueBackgroundJob, insertMessage } from "../../src/core/index.js";
import { openDb, type Db } from "../../src/db/client.js";
import { upsertLead } from "../../src/db/sql.js";
import { createClientResolver } from "../../src/providers/clients.js";
import { createJsonServer, listenReceiver, routeDelivery, type RacyReceiver } from "./racy-receiver.js";

export type TransactionMode = "one-transaction" | "two-transactions";

export async function startTransactionReceiver(databaseUrl: string, mode: TransactionMode, poolSize = 45): Promise<RacyReceiver> {
  const db = openDb({ url: databaseUrl, poolSize, applicationName: `tx-${mode}` });
  const clients = createClientResolver(db.prisma);

  const handle = async (body: unknown, url: URL): Promise<[number, unknown]> => {
    const routed = await routeDelivery(clients, body, url);
    if ("answer" in routed) return routed.answer;
    const { plan, clientId, row } = routed;
    const ingest = async (tx: Db) => {
      const lead = await upsertLead(tx, clientId, plan.lead);
      const m = await insertMessage(tx, { ...row, leadId: lead.id }, "on-conflict");
      return { lead, m };
    };
    const enqueue = (tx: Db, leadId: string, messageId: string) =>
      Promise.all(
        plan.jobTypes.map((type) => enqueueBackgroundJob(tx, { type, clientId, leadId, messageId, dedupeKey: buildJobDedupeKey(clientId, messageId, type) })),
      );
    if (mode === "one-transaction") {
      const m = await db.prisma.$transaction(async (tx) => {
        const { lead, m } = await ingest(tx as unknown as Db);
        // Duplicates trust the stored message: its jobs were committed with it.
        if (!m.deduped) await enqueue(tx as unknown as Db, lead.id, m.messageId);
        return m;
      });
      return [200, { success: true, deduped: m.deduped, messageId: m.messageId }];
    }
    const { lead, m } = await ingest(db.prisma);
    // Duplicates trust the stored message, though its jobs were a separate commit.
    if (!m.deduped) await enqueue(db.prisma, lead.id, m.messageId);
    return [200, { success: true, deduped: m.deduped, messageId: m.messageId }];
  };

  const server = createJsonServer(handle);
  return listenReceiver(server, db, poolSize);
}
