// loadFixtures / loadClientsConfig: the harness's entry points to fixtures.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadFixtures } from "../../src/harness/fixtures.js";
import { loadClientsConfig } from "../../src/providers/client-config.js";
import { planDeliveryFor } from "../../src/providers/registry.js";
import { FIXTURES_DIR } from "./support.js";

const SHARED = path.resolve(FIXTURES_DIR, "../../shared/provider-payloads");

function tempDir(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dedupe-fixtures-"));
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

describe("loadFixtures", () => {
  it("walks folders, takes the provider from the folder and pairs .meta.json", () => {
    const fixtures = loadFixtures([FIXTURES_DIR]);
    expect(fixtures.length).toBeGreaterThanOrEqual(16);
    expect(fixtures.some((f) => f.path.endsWith("clients.json") || f.path.endsWith(".meta.json"))).toBe(false);
    const replied = fixtures.find((f) => f.path.endsWith("emailbison/lead_replied.json"))!;
    expect(replied.provider).toBe("emailbison");
    expect(replied.rawBody.equals(fs.readFileSync(replied.path))).toBe(true);
    expect(replied.meta.expect?.outcome).toBe("created");
  });

  // shared/ sits beside the checkout in this project's workspace and CI; a
  // clone elsewhere has only the fixtures derived from it.
  it.skipIf(!fs.existsSync(SHARED))("plans every provider example in ../shared/provider-payloads as is (gohighlevel folder included)", () => {
    const fixtures = loadFixtures([SHARED]);
    expect(new Set(fixtures.map((f) => f.provider))).toEqual(new Set(["emailbison", "ghl", "unipile", "smartlead", "instantly"]));
    // SmartLead's EMAIL_SENT doc example has no secret_key, so only ?clientId= can name its client.
    for (const fixture of fixtures) {
      const plan = planDeliveryFor(fixture.provider, fixture.body, new URL("http://x/?clientId=acme"));
      expect(plan.kind, fixture.path).toBe("message");
    }
  });

  it("a bare body file works with the provider given explicitly, and fails clearly without one", () => {
    const dir = tempDir({ "captured.json": JSON.stringify({ event_type: "email_sent" }) });
    expect(loadFixtures([path.join(dir, "captured.json")], { provider: "instantly" })[0]!.provider).toBe("instantly");
    expect(() => loadFixtures([path.join(dir, "captured.json")])).toThrow(/Cannot tell which provider/);
  });

  it("rejects invalid JSON and invalid metadata naming the file", () => {
    const dir = tempDir({ "ghl/a.json": "{nope", "unipile/b.json": "{}", "unipile/b.meta.json": JSON.stringify({ expect: { status: "two hundred" } }) });
    expect(() => loadFixtures([path.join(dir, "ghl")])).toThrow(/a\.json is not valid JSON/);
    expect(() => loadFixtures([path.join(dir, "unipile")])).toThrow(/b\.meta\.json: expect\.status/);
  });
});

describe("loadClientsConfig", () => {
  it("loads fixtures/clients.json", () => {
    const config = loadClientsConfig(path.join(FIXTURES_DIR, "clients.json"));
    expect(config.clients.map((c) => c.slug)).toEqual(["acme", "globex"]);
  });

  it("rejects unknown fields and duplicate slugs", () => {
    const dir = tempDir({
      "typo.json": JSON.stringify({ clients: [{ slug: "a", ghlLocation: "x" }] }),
      "dup.json": JSON.stringify([{ slug: "a" }, { slug: "a" }]),
    });
    expect(() => loadClientsConfig(path.join(dir, "typo.json"))).toThrow(/ghlLocation/);
    expect(() => loadClientsConfig(path.join(dir, "dup.json"))).toThrow(/appears twice/);
  });
});
