// Every payload shape added for issue 14 (GHL workflow webhooks with and
// without customData dates, ProviderOutboundMessage, OutboundMessage retry
// and without id, SmartLead untracked and threaded replies, EmailBison
// casings, Instantly without email_id, and documented ignored events),
// through the real bin/: replay and race (N=50) in-process and over HTTP
// against `serve`, with check-then-create as the negative control. Plus: an
// unauthenticated workflow delivery is a 401 that writes nothing, and a
// replay over a folder with a broken file judges every other file.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { countRows } from "../../src/db/sql.js";
import { runBinJson } from "../helpers/cli-json.js";
import { useTestDb } from "../helpers/db.js";
import { startServe, type ServeProcess } from "../helpers/serve.js";
import { seedFixtureClients } from "../providers/support.js";

const NEW_SHAPES = [
  "ghl/workflow_inbound_sms.json",
  "ghl/workflow_inbound_sms_no_date.json",
  "ghl/provider_outbound_message.json",
  "ghl/provider_outbound_email.json",
  "ghl/outbound_message_retry.json",
  "ghl/outbound_message_no_id.json",
  "smartlead/untracked_replies.json",
  "smartlead/email_reply_threaded.json",
  "smartlead/lead_category_updated.json",
  "emailbison/lead_replied_lowercase.json",
  "emailbison/lead_replied_title_case.json",
  "instantly/reply_received_no_email_id.json",
  "instantly/lead_interested.json",
];
const DERIVED = ["ghl/workflow_inbound_sms.json", "ghl/workflow_inbound_sms_no_date.json", "ghl/outbound_message_no_id.json", "instantly/reply_received_no_email_id.json"];

const db = await useTestDb(5);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "dedupe-shapes-"));
const shapesDir = path.join(tmp, "shapes");
const workflowDir = path.join(tmp, "workflow");
const env = { DATABASE_URL: undefined };
let serve: ServeProcess;

/** Copies fixtures (body and .meta.json) under dir/<provider>/. */
function copyFixtures(dir: string, relatives: readonly string[]) {
  for (const relative of relatives) {
    fs.mkdirSync(path.join(dir, path.dirname(relative)), { recursive: true });
    for (const file of [relative, relative.replace(/\.json$/, ".meta.json")]) {
      if (fs.existsSync(path.join("fixtures", file))) fs.copyFileSync(path.join("fixtures", file), path.join(dir, file));
    }
  }
}

beforeAll(async () => {
  await seedFixtureClients(db.prisma);
  copyFixtures(shapesDir, NEW_SHAPES);
  copyFixtures(workflowDir, ["ghl/workflow_inbound_sms.json", "ghl/workflow_inbound_sms_no_date.json"]);
  serve = await startServe(db.database.url);
});
afterAll(async () => {
  await serve?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

interface HarnessJson {
  verdict: string;
  cases: Array<{ name: string; fixture: string; verdict: string; kind: string; notes: string[]; invariants: Array<{ name: string; status: string; observed: string }> }>;
}

const run = (command: "replay" | "race", args: string[]) => runBinJson<HarnessJson>([command, "--database-url", db.database.url, "--json", ...args], { env, timeoutMs: 300_000 });
const shapeOf = (fixture: string) => path.relative(shapesDir, fixture);

function expectAllPass(r: { code: number | null; stderr: string; json?: HarnessJson }, cases: number) {
  expect(r.code, r.stderr).toBe(0);
  expect(r.json!.cases).toHaveLength(cases);
  expect(r.json!.cases.filter((c) => c.verdict !== "pass").map((c) => c.name)).toEqual([]);
}

function expectDerivedKeysNamed(json: HarnessJson) {
  for (const c of json.cases) {
    const derived = c.notes.some((n) => n.startsWith("key derived"));
    expect(derived, `${c.name}: ${c.notes.join("; ")}`).toBe(DERIVED.includes(shapeOf(c.fixture)));
  }
}

describe("new payload shapes, in-process", () => {
  it("replay: every shape passes, and the derived keys say so and from which fields", async () => {
    const r = await run("replay", [shapesDir]);
    expectAllPass(r, NEW_SHAPES.length);
    expectDerivedKeysNamed(r.json!);
    const workflow = r.json!.cases.find((c) => shapeOf(c.fixture) === "ghl/workflow_inbound_sms.json")!;
    expect(workflow.notes.join("\n")).toMatch(/location\.id, contact_id, workflow\.id, date_created, customData\.Date, customData\.Time, message\.body/);
  });

  it("race N=50: every shape passes, one message each", async () => {
    const r = await run("race", ["--all-fixtures", "--fixture", shapesDir, "--n", "50"]);
    expectAllPass(r, NEW_SHAPES.length);
    expectDerivedKeysNamed(r.json!);
  });

  it("negative control: the workflow shapes raced against check-then-create fail (exit 1)", async () => {
    const r = await run("race", ["--all-fixtures", "--fixture", workflowDir, "--n", "50", "--strategy", "check-then-create"]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.json!.cases.every((c) => c.verdict === "fail")).toBe(true);
  });
});

describe("new payload shapes over HTTP against `serve`", () => {
  it("replay: every shape passes (workflow deliveries carry the client's secret, not a signature)", async () => {
    const r = await run("replay", [shapesDir, "--target", serve.url, "--fresh-ids"]);
    expectAllPass(r, NEW_SHAPES.length);
  });

  it("race N=50: every shape passes", async () => {
    const r = await run("race", ["--all-fixtures", "--fixture", shapesDir, "--n", "50", "--target", serve.url, "--rounds", "1"]);
    expectAllPass(r, NEW_SHAPES.length);
  });

  it("a workflow delivery without the configured secret is refused (401) and writes nothing; with it, 200", async () => {
    const body = fs.readFileSync("fixtures/ghl/workflow_inbound_sms.json");
    const before = await countRows(db.prisma);
    const post = (headers: Record<string, string>) => fetch(`${serve.url}/api/webhooks/ghl/sms`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
    const refused = await post({});
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: string }).error).toMatch(/X-Webhook-Secret/);
    expect((await post({ "x-webhook-secret": "wrong" })).status).toBe(401);
    expect(await countRows(db.prisma)).toEqual(before);
    // Positive control: the same bytes with the secret are accepted.
    const accepted = await post({ "x-webhook-secret": "test-only-ghl-workflow-secret" });
    expect(accepted.status).toBe(200);
  });
});

describe("clients add --ghl-workflow-secret", () => {
  it("stores the secret a workflow then authenticates with (list shows it as set, never its value)", async () => {
    const add = await runBinJson(["clients", "add", "--slug", "wf-client", "--ghl-location-id", "loc-wf-client", "--ghl-workflow-secret", "wf-secret-9d2c", "--database-url", db.database.url, "--json"], { env });
    expect(add.code, add.stderr).toBe(0);
    const list = await runBinJson<Array<{ slug: string; secrets: Record<string, boolean> }>>(["clients", "list", "--database-url", db.database.url, "--json"], { env });
    expect(list.json!.find((c) => c.slug === "wf-client")!.secrets.ghlWorkflowSecret).toBe(true);
    expect(list.stdout).not.toContain("wf-secret-9d2c");
    const body = JSON.parse(fs.readFileSync("fixtures/ghl/workflow_inbound_sms.json", "utf8")) as { location: { id: string } };
    body.location.id = "loc-wf-client";
    const post = (secret: string) => fetch(`${serve.url}/api/webhooks/ghl/sms?secret=${secret}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    expect((await post("test-only-ghl-workflow-secret")).status).toBe(401);
    expect((await post("wf-secret-9d2c")).status).toBe(200);
  });
});

describe("replay over a folder with files it cannot judge", () => {
  it("reports each broken or unhandled file as unsupported with the reason, judges the others, and exits 3", async () => {
    const dir = path.join(tmp, "mixed");
    copyFixtures(dir, ["ghl/workflow_inbound_sms.json", "emailbison/lead_replied_lowercase.json"]);
    fs.writeFileSync(path.join(dir, "ghl", "a_truncated.json"), '{"contact_id": "x", "location": ');
    fs.writeFileSync(path.join(dir, "ghl", "b_unknown_shape.json"), JSON.stringify({ hello: "world" }));
    const r = await run("replay", [dir, "--fresh-ids"]);
    expect(r.code, r.stderr).toBe(3);
    const byName = Object.fromEntries(r.json!.cases.map((c) => [path.relative(dir, c.fixture), c]));
    expect(Object.keys(byName).sort()).toEqual(["emailbison/lead_replied_lowercase.json", "ghl/a_truncated.json", "ghl/b_unknown_shape.json", "ghl/workflow_inbound_sms.json"]);
    expect(byName["ghl/workflow_inbound_sms.json"]!.verdict).toBe("pass");
    expect(byName["emailbison/lead_replied_lowercase.json"]!.verdict).toBe("pass");
    expect(byName["ghl/a_truncated.json"]).toMatchObject({ kind: "unsupported", verdict: "inconclusive" });
    expect(byName["ghl/a_truncated.json"]!.invariants[0]!.observed).toMatch(/not valid JSON/);
    expect(byName["ghl/b_unknown_shape.json"]!.invariants[0]!.observed).toMatch(/not a ghl payload the product handles: type/);
    expect(r.stderr).toMatch(/unsupported/);
  });

  it("a folder whose every file is unsupported is a usage error (exit 2), naming each", async () => {
    const dir = path.join(tmp, "all-bad", "ghl");
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "x.json"), "not json");
    const r = await run("replay", [path.dirname(dir)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/No file can be replayed[\s\S]*x\.json: not valid JSON/);
  });
});
