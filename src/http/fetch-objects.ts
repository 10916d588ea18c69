// Request and Response objects that cost almost nothing until someone uses
// them as such. Building undici's Request (~35 µs) and serialising a
// Response.json back out through its body stream (~70 µs) was about a sixth
// of serve's CPU per duplicate delivery (bench/serve); the webhook handlers
// only need a Request's method, URL, headers and bytes, and node-server only
// needs a Response's status, headers and JSON text.
//
// Both are real Fetch objects to everyone else: `instanceof Request` /
// `instanceof Response` hold, and any member other than the few answered
// from the stored fields makes the real undici object once (from the same
// fields) and delegates to it. Hono's node adapter uses the same technique.

const kLight = Symbol("dedupe.lightFetchObject");

interface LightRequestState {
  method: string;
  url: string;
  rawHeaders: readonly string[];
  body: Buffer | undefined;
  headers?: Headers;
  real?: Request;
}

interface LightResponseState {
  status: number;
  headers: Record<string, string>;
  text: string;
  real?: Response;
}

type Light<S> = { [kLight]: S };

/**
 * A prototype chained to `base.prototype` whose every member (getter or
 * method) is forwarded to the real object `materialize` returns, except the
 * ones in `own`, which are answered from the stored state.
 */
function createDelegatingPrototype<S, R extends object>(
  base: { prototype: R },
  materialize: (state: S) => R,
  own: PropertyDescriptorMap,
): object {
  const proto = Object.create(base.prototype) as object;
  for (const name of Reflect.ownKeys(base.prototype)) {
    if (name === "constructor" || name === Symbol.toStringTag) continue;
    const descriptor = Reflect.getOwnPropertyDescriptor(base.prototype, name)!;
    if (descriptor.get) {
      Object.defineProperty(proto, name, {
        configurable: true,
        get(this: Light<S>) {
          return Reflect.get(materialize(this[kLight]), name);
        },
      });
    } else if (typeof descriptor.value === "function") {
      Object.defineProperty(proto, name, {
        configurable: true,
        writable: true,
        value(this: Light<S>, ...args: unknown[]) {
          const real = materialize(this[kLight]) as Record<PropertyKey, (...a: unknown[]) => unknown>;
          return real[name]!(...args);
        },
      });
    }
  }
  Object.defineProperties(proto, own);
  return proto;
}

function buildHeaders(state: LightRequestState): Headers {
  if (!state.headers) {
    const headers = new Headers();
    for (let i = 0; i < state.rawHeaders.length; i += 2) headers.append(state.rawHeaders[i]!, state.rawHeaders[i + 1]!);
    state.headers = headers;
  }
  return state.headers;
}

function materializeRequest(state: LightRequestState): Request {
  state.real ??= new Request(state.url, { method: state.method, headers: buildHeaders(state), body: state.body });
  return state.real;
}

const lightRequestPrototype = createDelegatingPrototype<LightRequestState, Request>(Request, materializeRequest, {
  method: {
    get(this: Light<LightRequestState>) {
      return this[kLight].method;
    },
  },
  url: {
    get(this: Light<LightRequestState>) {
      return this[kLight].url;
    },
  },
  headers: {
    get(this: Light<LightRequestState>) {
      const state = this[kLight];
      return state.real ? state.real.headers : buildHeaders(state);
    },
  },
});

/**
 * A Request for a body node-server already read off the socket. `rawHeaders`
 * is node's flat [name, value, ...] list; it must not carry a Content-Length
 * or Transfer-Encoding that contradicts `body`.
 */
export function createPrereadRequest(url: string, method: string, rawHeaders: readonly string[], body: Buffer | undefined): Request {
  const request = Object.create(lightRequestPrototype) as Light<LightRequestState>;
  request[kLight] = { method, url, rawHeaders, body };
  return request as unknown as Request;
}

/**
 * The bytes a Request from createPrereadRequest carries, while nobody has
 * read them through the Fetch body API; undefined for any other Request.
 */
export function findPrereadBody(request: Request): Buffer | undefined {
  const state = (request as unknown as Partial<Light<LightRequestState>>)[kLight];
  if (!state || (state.real && state.real.bodyUsed)) return undefined;
  return state.body ?? Buffer.alloc(0);
}

function materializeResponse(state: LightResponseState): Response {
  state.real ??= new Response(state.text, { status: state.status, headers: state.headers });
  return state.real;
}

const lightResponsePrototype = createDelegatingPrototype<LightResponseState, Response>(Response, materializeResponse, {
  status: {
    get(this: Light<LightResponseState>) {
      return this[kLight].status;
    },
  },
  ok: {
    get(this: Light<LightResponseState>) {
      const { status } = this[kLight];
      return status >= 200 && status <= 299;
    },
  },
});

/** Like Response.json(payload, { status, headers }), without building the undici Response until it is used as one. */
export function createJsonResponse(payload: unknown, status: number, headers: Record<string, string> = {}): Response {
  const response = Object.create(lightResponsePrototype) as Light<LightResponseState>;
  response[kLight] = { status, headers: { "content-type": "application/json", ...headers }, text: JSON.stringify(payload) };
  return response as unknown as Response;
}

/**
 * Status, headers and body text of a Response from createJsonResponse that
 * nobody has touched as a Fetch object (touching it may have changed its
 * headers or consumed its body); undefined otherwise.
 */
export function readUntouchedJsonResponse(response: Response): { status: number; headers: Record<string, string>; text: string } | undefined {
  const state = (response as unknown as Partial<Light<LightResponseState>>)[kLight];
  return state && !state.real ? state : undefined;
}
