// GHL signatures over raw bytes with the TEST keys, the published-key
// default, secret comparison, and --allow-unsigned.
import { generateKeyPairSync } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { countRows } from "../../src/db/sql.js";
import { compareSecret, parsePublicKey, resolveGhlKeys, verifyGhlSignature } from "../../src/providers/auth.js";
import { importGhlHistory } from "../../src/providers/ghl/history.js";
import { GHL_PUBLISHED_ED25519_PUBLIC_KEY } from "../../src/providers/ghl/keys.js";
import { createWebhookHandler } from "../../src/providers/router.js";
import { signGhlEd25519, signGhlRsa } from "../../src/providers/sign.js";
import { useTestDb } from "../helpers/db.js";
import { buildRequest, clearMessages, loadFixture, readJson, seedFixtureClients, TEST_KEYS } from "./support.js";

const db = await useTestDb(10);
const testKeys = resolveGhlKeys({ ghlEd25519PublicKey: TEST_KEYS.ed25519PublicKey, ghlRsaPublicKey: TEST_KEYS.rsaPublicKey });
const logged: string[] = [];
const handler = createWebhookHandler({ db: db.prisma, ghlEd25519PublicKey: TEST_KEYS.ed25519PublicKey, ghlRsaPublicKey: TEST_KEYS.rsaPublicKey, onEvent: (e) => logged.push(e.reason) });
const inbound = loadFixture("ghl/inbound_message.json");

beforeAll(async () => {
  await seedFixtureClients(db.prisma);
});

describe("GHL signature verification", () => {
  const raw = inbound.rawBody;
  const headersWith = (entries: Record<string, string>) => new Headers(entries);

  it("accepts an Ed25519 signature made with the test key", () => {
    expect(verifyGhlSignature(raw, headersWith({ "x-ghl-signature": signGhlEd25519(raw, TEST_KEYS.ed25519PrivateKey) }), testKeys)).toEqual({ ok: true, scheme: "ed25519" });
  });

  it("accepts the legacy RSA-SHA256 X-WH-Signature", () => {
    expect(verifyGhlSignature(raw, headersWith({ "x-wh-signature": signGhlRsa(raw, TEST_KEYS.rsaPrivateKey) }), testKeys)).toEqual({ ok: true, scheme: "rsa-sha256" });
  });

  it.each([0, Math.floor(raw.length / 2), raw.length - 2])("fails when byte %i of the body changes", (index) => {
    const signature = signGhlEd25519(raw, TEST_KEYS.ed25519PrivateKey);
    const tampered = Buffer.from(raw);
    tampered[index] = tampered[index]! ^ 0x01;
    expect(verifyGhlSignature(tampered, headersWith({ "x-ghl-signature": signature }), testKeys).ok).toBe(false);
    const rsa = signGhlRsa(raw, TEST_KEYS.rsaPrivateKey);
    expect(verifyGhlSignature(tampered, headersWith({ "x-wh-signature": rsa }), testKeys).ok).toBe(false);
  });

  it("verifies raw bytes, not re-serialised JSON", () => {
    const reserialised = Buffer.from(JSON.stringify(JSON.parse(raw.toString("utf8"))));
    expect(reserialised.equals(raw)).toBe(false);
    const signature = signGhlEd25519(raw, TEST_KEYS.ed25519PrivateKey);
    expect(verifyGhlSignature(reserialised, headersWith({ "x-ghl-signature": signature }), testKeys).ok).toBe(false);
  });

  it("treats a literal N/A as missing, and falls back to X-WH-Signature only then", () => {
    const rsa = signGhlRsa(raw, TEST_KEYS.rsaPrivateKey);
    expect(verifyGhlSignature(raw, headersWith({ "x-ghl-signature": "N/A", "x-wh-signature": rsa }), testKeys)).toEqual({ ok: true, scheme: "rsa-sha256" });
    expect(verifyGhlSignature(raw, headersWith({ "x-ghl-signature": "N/A" }), testKeys).ok).toBe(false);
  });

  it("never downgrades: a bad Ed25519 signature fails even beside a valid RSA one", () => {
    const rsa = signGhlRsa(raw, TEST_KEYS.rsaPrivateKey);
    const bad = signGhlEd25519(Buffer.from("something else"), TEST_KEYS.ed25519PrivateKey);
    expect(verifyGhlSignature(raw, headersWith({ "x-ghl-signature": bad, "x-wh-signature": rsa }), testKeys).ok).toBe(false);
  });

  it("treats garbage signatures as failures, not exceptions", () => {
    expect(verifyGhlSignature(raw, headersWith({ "x-ghl-signature": "%%%not base64" }), testKeys).ok).toBe(false);
    expect(verifyGhlSignature(raw, headersWith({ "x-wh-signature": "AAAA" }), testKeys).ok).toBe(false);
  });

  it("defaults to GHL's published keys, which reject test-signed deliveries", async () => {
    const published = resolveGhlKeys({ ghlEd25519PublicKey: "N/A" });
    expect(published.ed25519.export({ format: "pem", type: "spki" })).toBe(GHL_PUBLISHED_ED25519_PUBLIC_KEY);
    const productionHandler = createWebhookHandler({ db: db.prisma, onEvent: () => undefined });
    const before = await countRows(db.prisma);
    const response = await productionHandler(buildRequest(inbound));
    expect(response.status).toBe(401);
    expect(await countRows(db.prisma)).toEqual(before);
  });

  it("parses keys as PEM, PEM with literal \\n, or bare base64 SPKI", () => {
    const { publicKey } = generateKeyPairSync("ed25519");
    const pem = publicKey.export({ format: "pem", type: "spki" }) as string;
    const der = (publicKey.export({ format: "der", type: "spki" }) as Buffer).toString("base64");
    for (const form of [pem, pem.replace(/\n/g, "\\n"), der]) {
      expect(parsePublicKey(form)!.equals(publicKey)).toBe(true);
    }
    expect(parsePublicKey("N/A")).toBeUndefined();
    expect(parsePublicKey("")).toBeUndefined();
  });

  it("a signed delivery with the RSA scheme is accepted end to end", async () => {
    await clearMessages(db.prisma);
    const response = await handler(buildRequest(inbound, { ghlScheme: "rsa" }));
    expect(response.status).toBe(200);
    expect((await readJson(response)).deduped).toBe(false);
  });
});

describe("GHL location binding (the signature proves GHL sent it, not whose it is)", () => {
  const ACME_LOCATION = "l1C08ntBrFjLS0elLIYU";

  it("a delivery signed for acme's location, sent with ?clientId=globex → 401, the log naming the command, nothing written", async () => {
    const before = await countRows(db.prisma);
    const response = await handler(buildRequest(inbound, { query: { clientId: "globex" } }));
    expect(response.status).toBe(401);
    expect((await readJson(response)).error).toMatch(/check \?clientId=/);
    expect(logged.at(-1)).toContain(`dedupe-cli clients add --slug globex --ghl-location-id ${ACME_LOCATION}`);
    expect(await countRows(db.prisma)).toEqual(before);
  });

  it("a client with another location rejects it too", async () => {
    await db.prisma.client.create({ data: { slug: "other-location", name: "other", ghlLocationId: "loc-other" } });
    const before = await countRows(db.prisma);
    const response = await handler(buildRequest(inbound, { query: { clientId: "other-location" } }));
    expect(response.status).toBe(401);
    expect(logged.at(-1)).toMatch(/location l1C08ntBrFjLS0elLIYU is not client other-location's/);
    expect((await readJson(response)).error).not.toContain("other-location");
    expect(await countRows(db.prisma)).toEqual(before);
  });

  it("a signed body naming no location cannot be pointed at a client with ?clientId=", async () => {
    const body = { ...(inbound.body as Record<string, unknown>) };
    delete body.locationId;
    const before = await countRows(db.prisma);
    const response = await handler(buildRequest(inbound, { rawBody: JSON.stringify(body), query: { clientId: "acme" } }));
    expect(response.status).toBe(401);
    expect(await countRows(db.prisma)).toEqual(before);
  });

  it("?clientId= naming the location's own client is accepted", async () => {
    await clearMessages(db.prisma);
    const response = await handler(buildRequest(inbound, { query: { clientId: "acme" } }));
    expect(response.status).toBe(200);
  });

  it("the history import refuses another location's messages, writing nothing", async () => {
    const globex = await db.prisma.client.findUniqueOrThrow({ where: { slug: "globex" } });
    const acme = await db.prisma.client.findUniqueOrThrow({ where: { slug: "acme" } });
    const message = { id: "hist-foreign-1", direction: "inbound", contactId: "c1", dateAdded: "2024-01-01T00:00:00Z", body: "hi", locationId: ACME_LOCATION };
    const before = await countRows(db.prisma);
    await expect(importGhlHistory(db.prisma, globex.id, [message])).rejects.toThrow(/\[0\]\.locationId: .*--slug globex --ghl-location-id l1C08ntBrFjLS0elLIYU/);
    const other = await db.prisma.client.findUniqueOrThrow({ where: { slug: "other-location" } });
    await expect(importGhlHistory(db.prisma, other.id, [message])).rejects.toThrow(/not client other-location's location/);
    expect(await countRows(db.prisma)).toEqual(before);
    expect((await importGhlHistory(db.prisma, acme.id, [message])).created).toBe(1);
  });
});

describe("shared secrets", () => {
  it("compares in constant time over digests, rejecting missing or empty values", () => {
    expect(compareSecret("s3cret", "s3cret")).toBe(true);
    expect(compareSecret("s3cret", "s3cret ")).toBe(false);
    expect(compareSecret("short", "a much longer secret")).toBe(false);
    expect(compareSecret(undefined, "x")).toBe(false);
    expect(compareSecret("", "")).toBe(false);
    expect(compareSecret("x", null)).toBe(false);
  });

  it("a client without a configured secret rejects deliveries (auth is on by default)", async () => {
    await db.prisma.client.create({ data: { slug: "no-secret", name: "no secret", instantlyWorkspaceId: "11111111-2222-4333-8444-555555555555" } });
    const fixture = loadFixture("instantly/email_sent.json");
    const body = JSON.stringify({ ...(fixture.body as object), workspace: "11111111-2222-4333-8444-555555555555" });
    const before = await countRows(db.prisma);
    const response = await handler(buildRequest(fixture, { rawBody: body, headers: { "x-instantly-secret": "anything" } }));
    expect(response.status).toBe(401);
    // The log names the missing secret and the flag that sets it; the answer
    // is the wrong-secret one, so callers cannot tell which clients have secrets.
    expect(logged.at(-1)).toMatch(/no-secret has no Instantly webhook secret.*--instantly-secret/);
    expect((await readJson(response)).error).toBe("Instantly secret does not match (sent as X-Instantly-Secret header (or Authorization: Bearer))");
    expect(await countRows(db.prisma)).toEqual(before);
  });

  it("--allow-unsigned accepts unauthenticated deliveries", async () => {
    await clearMessages(db.prisma);
    const open = createWebhookHandler({ db: db.prisma, allowUnsigned: true });
    for (const name of ["ghl/inbound_message.json", "unipile/message_received_inbound.json", "emailbison/lead_replied.json"]) {
      const response = await open(buildRequest(loadFixture(name), { sign: false }));
      expect(response.status, name).toBe(200);
    }
  });
});
