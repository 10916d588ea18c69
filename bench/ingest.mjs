// bench/ingest: in-process ingestion throughput (deliveries/s) at concurrency
// 50, for new and for duplicate deliveries, through the core (default
// strategy, and catch-p2002 for comparison) beside the same statement
// hand-written and issued through plain pg, in the same run. Prints ratios.
//   node bench/ingest.mjs [--deliveries 4000] [--json]
import { randomUUID } from "node:crypto";
import pg from "pg";
import { openDb } from "../dist/db/client.js";
import { ingestMessage } from "../dist/core/ingest.js";
import { machine, measureRate, openBenchDatabase } from "./_db.mjs";

const args = process.argv.slice(2);
const DELIVERIES = Number(args[args.indexOf("--deliveries") + 1]) || 4000;
const CONCURRENCY = 50;
const asJson = args.includes("--json");

// The statement the on-conflict strategy sends, written by hand: lead upsert,
// message insert-or-read, job ensure, in one round trip.
const HAND_SQL = `
WITH existing AS (
  SELECT m."id", m."leadId" FROM "Message" m WHERE m."emailBisonReplyId" = $6
), lead_ins AS (
  INSERT INTO "Lead" ("clientId", "email", "firstName", "lastName")
  SELECT $1::uuid, $2, NULL, NULL WHERE NOT EXISTS (SELECT 1 FROM existing)
  ON CONFLICT ("clientId", "email") DO NOTHING RETURNING "id"
), lead AS (
  SELECT "id" FROM lead_ins
  UNION ALL SELECT l."id" FROM "Lead" l WHERE l."clientId" = $1::uuid AND l."email" = $2
    AND NOT EXISTS (SELECT 1 FROM existing) AND NOT EXISTS (SELECT 1 FROM lead_ins)
), ins AS (
  INSERT INTO "Message" ("clientId", "leadId", "provider", "channel", "direction", "subject", "body", "sentAt", "emailBisonReplyId")
  SELECT $1::uuid, lead."id", 'EMAILBISON', 'EMAIL', 'INBOUND', $3, $4, $5::timestamp(3), $6 FROM lead
  ON CONFLICT ("emailBisonReplyId") DO NOTHING RETURNING "id", "leadId"
), msg AS (
  SELECT "id", "leadId", false AS "deduped" FROM ins
  UNION ALL SELECT "id", "leadId", true FROM existing
), jobs AS (
  INSERT INTO "BackgroundJob" ("type", "dedupeKey", "clientId", "leadId", "messageId", "maxAttempts")
  SELECT t."type"::"BackgroundJobType", $1 || ':' || msg."id" || ':' || t."type", $1::uuid, msg."leadId", msg."id", 5
  FROM msg CROSS JOIN unnest($7::text[]) AS t("type")
  ON CONFLICT ("dedupeKey") DO NOTHING RETURNING 1
)
SELECT msg."id", msg."deduped", (SELECT count(*)::int FROM jobs) AS "jobsEnqueued" FROM msg`;

const JOB_TYPES = ["EMAIL_INBOUND_POST_PROCESS", "LEAD_SCORING_POST_PROCESS"];

function delivery(clientId, replyId, i) {
  return {
    clientId,
    provider: "EMAILBISON",
    channel: "EMAIL",
    direction: "INBOUND",
    subject: "Re: hello",
    body: "Sounds interesting, send me more info.",
    sentAt: new Date("2026-04-01T10:00:00Z"),
    unique: { key: "emailBisonReplyId", value: replyId },
    lead: { key: "email", value: `lead-${i % 500}@example.com` },
    eventType: "LEAD_REPLIED",
  };
}

const database = await openBenchDatabase("ingest");
const handle = openDb({ url: database.url, poolSize: CONCURRENCY });
const pool = new pg.Pool({ connectionString: database.url, max: CONCURRENCY });
// Dropping the bench database at the end may terminate a connection the pool
// is still closing; that is not a benchmark failure.
pool.on("error", () => undefined);
try {
  const client = await handle.prisma.client.create({ data: { slug: "bench", name: "bench" } });
  const runs = {};
  const viaCore = (strategy, ids) => (i) => ingestMessage(handle.prisma, delivery(client.id, ids[i], i), { strategy });
  const viaPg = (ids) => (i) => {
    const d = delivery(client.id, ids[i], i);
    return pool.query({ name: "hand_ingest", text: HAND_SQL, values: [d.clientId, d.lead.value, d.subject, d.body, d.sentAt, ids[i], JOB_TYPES] });
  };
  const freshIds = () => Array.from({ length: DELIVERIES }, () => `emailbison:bench:${randomUUID()}`);
  // Duplicates: every delivery repeats one of 50 already-stored ids.
  const dupBase = freshIds().slice(0, 50);
  await measureRate(50, 50, viaPg(dupBase));
  const dupIds = Array.from({ length: DELIVERIES }, (_, i) => dupBase[i % 50]);

  // Warm-up (plans, pools, JIT), then interleave so drift affects both sides alike.
  await measureRate(500, CONCURRENCY, viaPg(freshIds()));
  await measureRate(500, CONCURRENCY, viaCore("on-conflict", freshIds()));
  await measureRate(500, CONCURRENCY, viaCore("catch-p2002", freshIds()));
  const best = (a, b) => Math.max(a ?? 0, b);
  for (let round = 0; round < 2; round++) {
    runs.newPg = best(runs.newPg, await measureRate(DELIVERIES, CONCURRENCY, viaPg(freshIds())));
    runs.newCore = best(runs.newCore, await measureRate(DELIVERIES, CONCURRENCY, viaCore("on-conflict", freshIds())));
    runs.newP2002 = best(runs.newP2002, await measureRate(DELIVERIES, CONCURRENCY, viaCore("catch-p2002", freshIds())));
    runs.dupPg = best(runs.dupPg, await measureRate(DELIVERIES, CONCURRENCY, viaPg(dupIds)));
    runs.dupCore = best(runs.dupCore, await measureRate(DELIVERIES, CONCURRENCY, viaCore("on-conflict", dupIds)));
    runs.dupP2002 = best(runs.dupP2002, await measureRate(DELIVERIES, CONCURRENCY, viaCore("catch-p2002", dupIds)));
  }
  const result = {
    bench: "ingest",
    machine: machine(),
    database: database.server,
    deliveries: DELIVERIES,
    concurrency: CONCURRENCY,
    perSecond: Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, Math.round(v)])),
    ratios: {
      newCoreVsPg: +(runs.newCore / runs.newPg).toFixed(2),
      duplicateCoreVsPg: +(runs.dupCore / runs.dupPg).toFixed(2),
      newP2002VsOnConflict: +(runs.newP2002 / runs.newCore).toFixed(2),
      duplicateP2002VsOnConflict: +(runs.dupP2002 / runs.dupCore).toFixed(2),
    },
    target: "core >= 0.5 x hand-written pg, new and duplicate",
  };
  if (asJson) {
    console.log(JSON.stringify(result));
  } else {
    const r = result.perSecond;
    console.log(`bench/ingest: ${DELIVERIES} deliveries per run, concurrency ${CONCURRENCY}, ${result.machine}, ${result.database}`);
    console.log(`                       new msgs/s   duplicates/s`);
    console.log(`hand-written pg        ${String(r.newPg).padStart(10)}   ${String(r.dupPg).padStart(12)}`);
    console.log(`core (on-conflict)     ${String(r.newCore).padStart(10)}   ${String(r.dupCore).padStart(12)}`);
    console.log(`core (catch-p2002)     ${String(r.newP2002).padStart(10)}   ${String(r.dupP2002).padStart(12)}`);
    console.log(`ratio core/pg          ${String(result.ratios.newCoreVsPg).padStart(10)}   ${String(result.ratios.duplicateCoreVsPg).padStart(12)}   (target >= 0.5)`);
    console.log(`ratio p2002/on-conflict${String(result.ratios.newP2002VsOnConflict).padStart(10)}   ${String(result.ratios.duplicateP2002VsOnConflict).padStart(12)}`);
  }
} finally {
  await handle.close();
  await pool.end();
  await database.close();
}
