import { describe, expect, it } from "vitest";
import { createJsonResponse, createPrereadRequest, findPrereadBody, readUntouchedJsonResponse } from "../../src/http/fetch-objects.js";

const RAW_HEADERS = ["Host", "example.test", "Content-Type", "application/json", "X-Token", "a", "x-token", "b"];

describe("createPrereadRequest", () => {
  it("is a Request that answers method, url and headers without building one", () => {
    const request = createPrereadRequest("http://example.test/api/x?token=t", "POST", RAW_HEADERS, Buffer.from('{"a":1}'));
    expect(request).toBeInstanceOf(Request);
    expect(request.method).toBe("POST");
    expect(new URL(request.url).searchParams.get("token")).toBe("t");
    expect(request.headers.get("content-type")).toBe("application/json");
    // Repeated headers combine as in a real Request.
    expect(request.headers.get("x-token")).toBe("a, b");
  });

  it("hands the pre-read bytes to findPrereadBody, and to the Fetch body API as a real Request would", async () => {
    const body = Buffer.from('{"a":1}');
    const request = createPrereadRequest("http://example.test/", "POST", RAW_HEADERS, body);
    expect(findPrereadBody(request)).toBe(body);
    expect(await request.json()).toEqual({ a: 1 });
    expect(request.bodyUsed).toBe(true);
    // Once read through the Fetch API the bytes are spent, as for any Request.
    expect(findPrereadBody(request)).toBeUndefined();
    await expect(request.text()).rejects.toThrow();
  });

  it("delegates everything else to a real Request built from the same fields", async () => {
    const request = createPrereadRequest("http://example.test/p", "PUT", RAW_HEADERS, Buffer.from("hi"));
    const copy = request.clone();
    expect(copy).toBeInstanceOf(Request);
    expect(copy.method).toBe("PUT");
    expect(await copy.text()).toBe("hi");
    expect(request.signal).toBeInstanceOf(AbortSignal);
    expect(findPrereadBody(new Request("http://example.test/", { method: "POST", body: "x" }))).toBeUndefined();
  });

  it("has no body for GET", async () => {
    const request = createPrereadRequest("http://example.test/", "GET", RAW_HEADERS, undefined);
    expect(request.body).toBeNull();
    expect(findPrereadBody(request)?.length).toBe(0);
  });
});

describe("createJsonResponse", () => {
  it("reads like Response.json", async () => {
    const response = createJsonResponse({ ok: true, n: 1 }, 201, { "retry-after": "5" });
    expect(response).toBeInstanceOf(Response);
    expect(response.status).toBe(201);
    expect(response.ok).toBe(true);
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(response.headers.get("retry-after")).toBe("5");
    expect(await response.json()).toEqual({ ok: true, n: 1 });
    expect(createJsonResponse({}, 404).ok).toBe(false);
  });

  it("is read directly by node-server only while nobody has used it as a Response", () => {
    const response = createJsonResponse({ a: 1 }, 200);
    expect(readUntouchedJsonResponse(response)).toMatchObject({ status: 200, text: '{"a":1}' });
    // A handler (or middleware) that changes the headers gets them sent: node-server then takes the Response path.
    response.headers.set("x-extra", "1");
    expect(readUntouchedJsonResponse(response)).toBeUndefined();
    expect(readUntouchedJsonResponse(Response.json({ a: 1 }))).toBeUndefined();
  });
});
