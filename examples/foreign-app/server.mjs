// An example webhook receiver, independent of dedupe-cli's core: node:http
// and pg, its own schema (schema.sql / schema.prisma), its own ids and its
// own answers. Two variants of the same app:
//   correct            insert, catch the unique violation (23505, Prisma's
//                      P2002), answer { deduped: true }
//   check-then-create  look the message up, create it if absent (races:
//                      concurrent duplicates both see "absent")
// Usage: DATABASE_URL=... node server.mjs [--racy] [--port 0]
// Prints "listening on http://127.0.0.1:<port>" once ready.
import { randomUUID } from "node:crypto";
import http from "node:http";
import pg from "pg";

const racy = process.argv.includes("--racy");
const portArg = process.argv.indexOf("--port");
const port = portArg > 0 ? Number(process.argv[portArg + 1]) : Number(process.env.PORT ?? 3100);
const BISON_TOKEN = process.env.BISON_TOKEN ?? "example-bison-token";
const INSTANTLY_SECRET = process.env.INSTANTLY_SECRET ?? "example-instantly-secret";

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 40 });
const newId = () => `c${randomUUID().replace(/-/g, "").slice(0, 24)}`;

/** The app's own key for an Instantly email: a prefix and base64url of a tuple. */
export const instantlyKey = (workspace, emailId) => `inst_${Buffer.from(JSON.stringify([workspace, emailId])).toString("base64url")}`;

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** What one delivery means for this app: which workspace, which stored id, which contact; null when ignored. */
function readDelivery(path, url, headers, body) {
  if (path === "/hooks/emailbison") {
    if (url.searchParams.get("token") !== BISON_TOKEN) throw new HttpError(401, "bad token");
    if (body?.event?.type !== "LEAD_REPLIED") return null;
    const reply = body.data?.reply;
    if (!reply?.id) throw new HttpError(400, "data.reply.id missing");
    return {
      workspace: { column: "bison_workspace_id", value: String(body.event.workspace_id) },
      stored: { column: "bison_reply_id", value: String(reply.id) },
      email: reply.from_email_address,
      text: reply.text_body ?? "",
    };
  }
  if (path === "/hooks/instantly") {
    if (headers["x-instantly-secret"] !== INSTANTLY_SECRET) throw new HttpError(401, "bad secret");
    if (body?.event_type !== "reply_received") return null;
    if (!body.email_id || !body.workspace) throw new HttpError(400, "email_id and workspace required");
    return {
      workspace: { column: "instantly_workspace_id", value: String(body.workspace) },
      stored: { column: "instantly_key", value: instantlyKey(body.workspace, body.email_id) },
      email: body.lead_email,
      text: body.reply_text ?? "",
    };
  }
  throw new HttpError(404, "no such route");
}

// Column names come from the two fixed literals above, never from input.
async function ingestCorrect(d, workspaceId) {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    await client.query("INSERT INTO contacts (id, workspace_id, email_address) VALUES ($1, $2, $3) ON CONFLICT (workspace_id, email_address) DO NOTHING", [newId(), workspaceId, d.email]);
    const contact = await client.query("SELECT id FROM contacts WHERE workspace_id = $1 AND email_address = $2", [workspaceId, d.email]);
    const id = newId();
    await client.query(`INSERT INTO inbound_messages (id, contact_id, ${d.stored.column}, body) VALUES ($1, $2, $3, $4)`, [id, contact.rows[0].id, d.stored.value, d.text]);
    await client.query("INSERT INTO jobs (id, kind, message_id, job_key) VALUES ($1, 'post_process', $2, $3)", [newId(), id, `post_process:${d.stored.value}`]);
    await client.query("COMMIT");
    return { ok: true, id };
  } catch (error) {
    await client.query("ROLLBACK");
    if (error.code !== "23505") throw error;
    // A duplicate ensures the message's job too (ON CONFLICT DO NOTHING): a
    // job lost after the message was stored is restored by the next retry.
    await pool.query(
      `INSERT INTO jobs (id, kind, message_id, job_key) SELECT $1, 'post_process', id, $2 FROM inbound_messages WHERE ${d.stored.column} = $3 ON CONFLICT (job_key) DO NOTHING`,
      [newId(), `post_process:${d.stored.value}`, d.stored.value],
    );
    return { ok: true, deduped: true };
  } finally {
    client.release();
  }
}

async function ingestRacy(d, workspaceId) {
  const existing = await pool.query(`SELECT id FROM inbound_messages WHERE ${d.stored.column} = $1`, [d.stored.value]);
  if (existing.rows.length > 0) return { ok: true, deduped: true };
  let contact = (await pool.query("SELECT id FROM contacts WHERE workspace_id = $1 AND email_address = $2", [workspaceId, d.email])).rows[0];
  if (!contact) {
    contact = { id: newId() };
    await pool.query("INSERT INTO contacts (id, workspace_id, email_address) VALUES ($1, $2, $3)", [contact.id, workspaceId, d.email]);
  }
  const id = newId();
  await pool.query(`INSERT INTO inbound_messages (id, contact_id, ${d.stored.column}, body) VALUES ($1, $2, $3, $4)`, [id, contact.id, d.stored.value, d.text]);
  await pool.query("INSERT INTO jobs (id, kind, message_id, job_key) VALUES ($1, 'post_process', $2, $3)", [newId(), id, `post_process:${d.stored.value}`]);
  return { ok: true, id };
}

async function handle(req, body) {
  const url = new URL(req.url, "http://localhost");
  let payload;
  try {
    payload = JSON.parse(body);
  } catch {
    throw new HttpError(400, "malformed JSON");
  }
  const d = readDelivery(url.pathname, url, req.headers, payload);
  if (!d) return { ok: true };
  const ws = await pool.query(`SELECT id FROM workspaces WHERE ${d.workspace.column} = $1`, [d.workspace.value]);
  if (ws.rows.length === 0) throw new HttpError(404, "unknown workspace");
  return racy ? ingestRacy(d, ws.rows[0].id) : ingestCorrect(d, ws.rows[0].id);
}

// The app's worker: post-processes each message once, and enqueues lead
// scoring from there (a job enqueued by a job, not at ingest).
async function runJobs() {
  const { rows } = await pool.query(
    `UPDATE jobs SET state = 'running', tries = tries + 1
     WHERE id IN (SELECT id FROM jobs WHERE state = 'queued' ORDER BY created_at LIMIT 20 FOR UPDATE SKIP LOCKED)
     RETURNING id, kind, message_id, contact_id`,
  );
  for (const job of rows) {
    if (job.kind === "post_process") {
      await pool.query(
        `INSERT INTO jobs (id, kind, contact_id, job_key)
         SELECT $1, 'lead_score', contact_id, 'lead_score:' || id FROM inbound_messages WHERE id = $2
         ON CONFLICT (job_key) DO NOTHING`,
        [newId(), job.message_id],
      );
    } else if (job.kind === "lead_score") {
      await pool.query("UPDATE contacts SET score = coalesce(score, 0) + 1 WHERE id = $1", [job.contact_id]);
    }
    await pool.query("UPDATE jobs SET state = 'done' WHERE id = $1", [job.id]);
  }
}

let working = false;
const worker = setInterval(() => {
  if (working) return;
  working = true;
  runJobs()
    .catch((error) => console.error("worker:", error.message))
    .finally(() => (working = false));
}, 100);

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    handle(req, Buffer.concat(chunks).toString("utf8"))
      .then((answer) => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(answer));
      })
      .catch((error) => {
        res.writeHead(error.status ?? 500, { "content-type": "application/json" });
        res.end(JSON.stringify({ ok: false, error: error.message }));
      });
  });
});

server.listen(port, "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${server.address().port} (${racy ? "check-then-create" : "correct"})`);
});

const stop = () => {
  clearInterval(worker);
  server.close(() => void pool.end().then(() => process.exit(0)));
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
