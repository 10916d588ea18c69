// Small HTTP receivers on the real schema, each written the way a real team
// writes one, for issue 15's detection tests. Five carry a bug a single
// burst at t=0 tends to miss; three are correct but follow a different
// convention (and must pass, with the config they need):
//   lead-find-then-create  message logic correct; the lead is SELECTed, then
//                          INSERTed when absent (run on a schema without the
//                          lead unique index, as such apps have)
//   crash-lost-job         the first delivery sometimes dies between message
//                          insert and job enqueue (answers 500); duplicates
//                          answer deduped without ensuring the jobs
//   crash-swallowed        as above, but the enqueue error is swallowed and
//                          answered 200
//   lease-lock             check-then-create under an in-process lock whose
//                          lease (20 ms) can run out before the insert ends
//   ttl-lock               an idempotency lock with a TTL (800 ms): within it
//                          duplicates are answered deduped, after it a retry
//                          is taken for new
//   jobs-type-message      correct; jobs keyed <type>:<messageId>
//   jobs-after-answer      correct; jobs ensured 30 ms after the answer (the
//                          Next.js after()/waitUntil pattern)
//   answer-received        correct; answers {"received": true}
//   rearm-on-duplicate     ingests correctly, but a duplicate "upserts" the
//                          message's jobs back to PENDING and unlocks them
//                          (a finished job runs again)
//   trickle-check-then-create  check-then-create whose deliveries reach the
//                          database one at a time, the first 150 ms after
//                          the release and the others 100 ms apart (a slow
//                          app, or a loaded machine): they never overlap on
//                          their own, and all come after a 100 ms stall
//   trickle-insert-first   correct (insert first), arriving the same way
import { buildJobDedupeKey, enqueueBackgroundJob, ingestMessage, insertMessage } from "../../src/core/index.js";
import { openDb } from "../../src/db/client.js";
import { upsertLead } from "../../src/db/sql.js";
import { createClientResolver } from "../../src/providers/clients.js";
import { createJsonServer, listenReceiver, routeDelivery, type RacyReceiver } from "./racy-receiver.js";

export const ESCAPING_BUGS = ["lead-find-then-create", "crash-lost-job", "crash-swallowed", "lease-lock", "ttl-lock"] as const;
export const CORRECT_BUT_DIFFERENT = ["jobs-type-message", "jobs-after-answer", "answer-received"] as const;
export type EscapingMode = (typeof ESCAPING_BUGS)[number] | (typeof CORRECT_BUT_DIFFERENT)[number] | "rearm-on-duplicate" | "trickle-check-then-create" | "trickle-insert-first";

/** How often the crash modes' first delivery dies before enqueueing. */
const CRASH_RATE = 0.3;
const LEASE_MS = 20;
const TTL_MS = 800;
const TRICKLE_FIRST_MS = 150;
const TRICKLE_GAP_MS = 100;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startEscapingReceiver(
  databaseUrl: string,
  mode: EscapingMode,
  options: { poolSize?: number; afterAnswerMs?: number } = {},
): Promise<RacyReceiver> {
  const poolSize = options.poolSize ?? 45;
  const db = openDb({ url: databaseUrl, poolSize, applicationName: `escaping-${mode}` });
  const clients = createClientResolver(db.prisma);
  const leases = new Map<string, number>();
  const idempotency = new Map<string, number>();
  const pending = new Set<Promise<unknown>>();
  /** Deliveries seen per stored id, for the trickle modes' arrival order. */
  const arrivals = new Map<string, number>();

  const handle = async (body: unknown, url: URL): Promise<[number, unknown]> => {
    const routed = await routeDelivery(clients, body, url);
    if ("answer" in routed) return routed.answer;
    const { plan, clientId, input, row } = routed;
    const enqueue = (leadId: string, messageId: string, key = (t: (typeof plan.jobTypes)[number]) => buildJobDedupeKey(clientId, messageId, t)) =>
      Promise.all(plan.jobTypes.map((type) => enqueueBackgroundJob(db.prisma, { type, clientId, leadId, messageId, dedupeKey: key(type) })));

    switch (mode) {
      case "lead-find-then-create": {
        const found = await db.pool.query<{ id: string }>(`SELECT id::text FROM "Lead" WHERE "clientId" = $1 AND email = $2 LIMIT 1`, [clientId, plan.lead.value]);
        const leadId =
          found.rows[0]?.id ??
          (await db.pool.query<{ id: string }>(`INSERT INTO "Lead" ("clientId", email) VALUES ($1, $2) RETURNING id::text`, [clientId, plan.lead.value])).rows[0]!.id;
        const m = await insertMessage(db.prisma, { ...row, leadId }, "on-conflict");
        await enqueue(leadId, m.messageId);
        return [200, { success: true, deduped: m.deduped, messageId: m.messageId }];
      }
      case "crash-lost-job":
      case "crash-swallowed": {
        const lead = await upsertLead(db.prisma, clientId, plan.lead);
        const m = await insertMessage(db.prisma, { ...row, leadId: lead.id }, "on-conflict");
        // Duplicates trust the stored message: its jobs are assumed enqueued.
        if (m.deduped) return [200, { success: true, deduped: true, messageId: m.messageId }];
        if (Math.random() < CRASH_RATE) {
          if (mode === "crash-lost-job") return [500, { error: "worker died before enqueueing" }];
          return [200, { success: true, deduped: false, messageId: m.messageId }];
        }
        await enqueue(lead.id, m.messageId);
        return [200, { success: true, deduped: false, messageId: m.messageId }];
      }
      case "lease-lock": {
        const key = input.unique.value;
        while ((leases.get(key) ?? 0) > performance.now()) await sleep(1);
        const mine = performance.now() + LEASE_MS;
        leases.set(key, mine);
        try {
          const lead = await upsertLead(db.prisma, clientId, plan.lead);
          // The lock is trusted to make check-then-create safe.
          const m = await insertMessage(db.prisma, { ...row, leadId: lead.id }, "check-then-create");
          await enqueue(lead.id, m.messageId);
          return [200, { success: true, deduped: m.deduped, messageId: m.messageId }];
        } finally {
          if (leases.get(key) === mine) leases.delete(key);
        }
      }
      case "ttl-lock": {
        const key = input.unique.value;
        if ((idempotency.get(key) ?? 0) > performance.now()) return [200, { success: true, deduped: true, messageId: null }];
        idempotency.set(key, performance.now() + TTL_MS);
        const lead = await upsertLead(db.prisma, clientId, plan.lead);
        const m = await insertMessage(db.prisma, { ...row, leadId: lead.id }, "on-conflict");
        await enqueue(lead.id, m.messageId);
        // Past the lock, the delivery is taken for new (and handled as such downstream).
        return [200, { success: true, deduped: false, messageId: m.messageId }];
      }
      case "jobs-type-message": {
        const lead = await upsertLead(db.prisma, clientId, plan.lead);
        const m = await insertMessage(db.prisma, { ...row, leadId: lead.id }, "on-conflict");
        await enqueue(lead.id, m.messageId, (t) => `${t}:${m.messageId}`);
        return [200, { success: true, deduped: m.deduped, messageId: m.messageId }];
      }
      case "jobs-after-answer": {
        const lead = await upsertLead(db.prisma, clientId, plan.lead);
        const m = await insertMessage(db.prisma, { ...row, leadId: lead.id }, "on-conflict");
        const later = sleep(options.afterAnswerMs ?? 30).then(() => enqueue(lead.id, m.messageId));
        pending.add(later);
        void later.finally(() => pending.delete(later));
        return [200, { success: true, deduped: m.deduped, messageId: m.messageId }];
      }
      case "rearm-on-duplicate": {
        const result = await ingestMessage(db.prisma, input);
        if (result.deduped) {
          await db.pool.query(`UPDATE "BackgroundJob" SET status = 'PENDING', "lockedBy" = NULL, "runAt" = now() WHERE "messageId" = $1`, [result.messageId]);
        }
        return [200, { success: true, deduped: result.deduped, messageId: result.messageId }];
      }
      case "trickle-check-then-create":
      case "trickle-insert-first": {
        const key = input.unique.value;
        const index = arrivals.get(key) ?? 0;
        arrivals.set(key, index + 1);
        await sleep(TRICKLE_FIRST_MS + index * TRICKLE_GAP_MS);
        const lead = await upsertLead(db.prisma, clientId, plan.lead);
        const m = await insertMessage(db.prisma, { ...row, leadId: lead.id }, mode === "trickle-check-then-create" ? "check-then-create" : "on-conflict");
        await enqueue(lead.id, m.messageId);
        return [200, { success: true, deduped: m.deduped, messageId: m.messageId }];
      }
      case "answer-received": {
        await ingestMessage(db.prisma, input);
        return [200, { received: true }];
      }
    }
  };

  const server = createJsonServer(handle);
  return listenReceiver(server, db, poolSize, () => Promise.allSettled([...pending]));
}
