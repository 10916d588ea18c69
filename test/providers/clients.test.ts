// The client cache's keys come from requests, so they must neither multiply
// (one client, one key) nor pile up (bounded, expired entries shed). A stub
// database counts lookups: the cache is observed by the queries it saves.
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Db } from "../../src/db/client.js";
import { createClientResolver } from "../../src/providers/clients.js";

const CLIENT_ID = "0b6f3a52-7c1e-4d2a-9f3b-5e8c1d2a4b6f";

function createCountingDb() {
  const calls: string[] = [];
  const found = async (args: { where: unknown }) => {
    calls.push(JSON.stringify(args.where));
    return { id: CLIENT_ID, slug: "acme", ghlLocationId: null };
  };
  const db = { client: { findFirst: found, findUnique: found, findMany: async () => [] } } as unknown as Db;
  return { db, calls };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("createClientResolver cache", () => {
  it("case variants of one uuid share a cache entry", async () => {
    const { db, calls } = createCountingDb();
    const resolver = createClientResolver(db, 60_000);
    await resolver.resolve({ by: "slug", value: CLIENT_ID });
    await resolver.resolve({ by: "slug", value: CLIENT_ID.toUpperCase() });
    await resolver.resolve({ by: "slug", value: "0B6F3A52-7c1e-4D2A-9f3b-5e8c1d2a4b6f" });
    expect(calls).toHaveLength(1);
  });

  it("slugs stay case-sensitive keys (they are compared as text)", async () => {
    const { db, calls } = createCountingDb();
    const resolver = createClientResolver(db, 60_000);
    await resolver.resolve({ by: "slug", value: "acme" });
    await resolver.resolve({ by: "slug", value: "ACME" });
    expect(calls).toHaveLength(2);
  });

  it("holds at most maxEntries: past the cap it clears, so old keys are looked up again", async () => {
    const { db, calls } = createCountingDb();
    const resolver = createClientResolver(db, 60_000, 3);
    for (const id of ["1", "2", "3"]) await resolver.resolve({ by: "instantlyWorkspaceId", value: id });
    await resolver.resolve({ by: "instantlyWorkspaceId", value: "1" });
    expect(calls).toHaveLength(3);
    // A fourth key makes room; nothing has expired, so everything goes.
    await resolver.resolve({ by: "instantlyWorkspaceId", value: "4" });
    await resolver.resolve({ by: "instantlyWorkspaceId", value: "1" });
    expect(calls).toHaveLength(5);
  });

  it("makes room by dropping expired entries first, keeping live ones", async () => {
    const { db, calls } = createCountingDb();
    let now = 1_000_000;
    vi.spyOn(Date, "now").mockImplementation(() => now);
    const resolver = createClientResolver(db, 1_000, 3);
    await resolver.resolve({ by: "instantlyWorkspaceId", value: "old-1" });
    await resolver.resolve({ by: "instantlyWorkspaceId", value: "old-2" });
    now += 2_000;
    await resolver.resolve({ by: "instantlyWorkspaceId", value: "live" });
    await resolver.resolve({ by: "instantlyWorkspaceId", value: "new" });
    expect(calls).toHaveLength(4);
    await resolver.resolve({ by: "instantlyWorkspaceId", value: "live" });
    expect(calls).toHaveLength(4);
  });
});
