// Every message fixture gets a different unique id (and so a different
// stored value) from mutateUniqueId; ignored ones stay ignored.
import { describe, expect, it } from "vitest";
import { loadFixtures } from "../../src/harness/fixtures.js";
import { mutateUniqueId } from "../../src/harness/mutate.js";
import { planDeliveryFor } from "../../src/providers/registry.js";
import { PROVIDER_ROUTES } from "../../src/providers/types.js";

const fixtures = loadFixtures(["fixtures"]);

describe("mutateUniqueId", () => {
  it.each(fixtures.map((f) => [f.path.split("/fixtures/")[1]!, f] as const))("%s re-keys to a fresh id", (_name, fixture) => {
    const url = new URL(PROVIDER_ROUTES[fixture.provider], "http://x");
    for (const [k, v] of Object.entries(fixture.meta.query ?? {})) url.searchParams.set(k, v);
    const before = planDeliveryFor(fixture.provider, fixture.body, url);
    const a = planDeliveryFor(fixture.provider, mutateUniqueId(fixture.provider, fixture.body), url);
    const b = planDeliveryFor(fixture.provider, mutateUniqueId(fixture.provider, fixture.body), url);
    expect(a.kind).toBe(before.kind);
    expect(b.kind).toBe(before.kind);
    if (before.kind !== "message" || a.kind !== "message" || b.kind !== "message") return;
    expect(a.unique.key).toBe(before.unique.key);
    expect(new Set([before.unique.value, a.unique.value, b.unique.value]).size).toBe(3);
    // The rest of the plan is the same delivery.
    expect({ ...a, unique: null, sentAt: null }).toEqual({ ...before, unique: null, sentAt: null });
  });
});
