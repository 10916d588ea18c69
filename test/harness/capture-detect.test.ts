// capture's provider/event detection for the shapes added in issue 14: GHL
// workflow Webhook actions (no `type`, snake_case contact) and
// conversation-provider deliveries, recognised from the body alone.
import fs from "node:fs";
import { describe, expect, it } from "vitest";
import { eventNameFor, providerFromBody } from "../../src/harness/capture-detect.js";
import { planDeliveryFor } from "../../src/providers/registry.js";

const url = new URL("http://capture.local/");
const read = (rel: string) => JSON.parse(fs.readFileSync(`fixtures/${rel}`, "utf8")) as Record<string, unknown>;

describe("capture detection", () => {
  it.each([
    ["ghl/workflow_inbound_sms.json", "WorkflowWebhook"],
    ["ghl/workflow_inbound_sms_no_date.json", "WorkflowWebhook"],
    ["ghl/provider_outbound_message.json", "ProviderOutboundMessage"],
    ["smartlead/untracked_replies.json", "UNTRACKED_REPLIES"],
  ])("%s is ghl/smartlead by its shape, event %s", (rel, event) => {
    const body = read(rel);
    const provider = providerFromBody(body, url);
    expect(provider).toBe(rel.split("/")[0]);
    expect(eventNameFor(provider, body, planDeliveryFor(provider!, body, url))).toBe(event);
  });

  it("a workflow body the planner rejects (no contact_id) is still named a workflow delivery", () => {
    const { contact_id: _dropped, ...body } = read("ghl/workflow_inbound_sms.json");
    expect(providerFromBody(body, url)).toBe("ghl");
    expect(eventNameFor("ghl", body, undefined)).toBe("WorkflowWebhook");
  });

  it("a body of no provider's shape stays unknown", () => {
    expect(providerFromBody({ hello: "world", location: "not an object" }, url)).toBeUndefined();
  });
});
