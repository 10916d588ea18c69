// Where a text stops being JSON. Node 20's JSON.parse says "Unexpected token
// 'o', "...<the file's text>..." is not valid JSON" with no position (and
// the quoted text spans lines), which cannot point a user at the mistake.
// This scanner follows the JSON grammar just far enough to find the first
// offending offset and says what was expected there.

export interface JsonErrorPosition {
  offset: number;
  line: number;
  column: number;
  /** What the grammar wanted at that point. */
  expected: string;
}

/** The first position where `text` is not valid JSON, or undefined when it is. */
export function findJsonError(text: string): JsonErrorPosition | undefined {
  let i = 0;
  const fail = (expected: string): never => {
    throw Object.assign(new Error(expected), { at: i });
  };
  const ws = () => {
    while (i < text.length && " \t\n\r".includes(text[i]!)) i++;
  };
  const literal = (word: string) => {
    // A bare word is reported where it starts: `nope` is not "null, misspelt".
    if (text.slice(i, i + word.length) !== word || /[A-Za-z0-9_]/.test(text[i + word.length] ?? "")) fail("a value");
    i += word.length;
  };
  const string = () => {
    i++; // opening quote
    while (i < text.length && text[i] !== '"') {
      const c = text.charCodeAt(i);
      if (c < 0x20) fail("a closing quote (control characters must be escaped)");
      if (text[i] === "\\") {
        i++;
        if (text[i] === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) fail("4 hex digits after \\u");
          i += 4;
        } else if (!'"\\/bfnrt'.includes(text[i] ?? "x")) fail("a valid escape");
      }
      i++;
    }
    if (i >= text.length) fail("a closing quote");
    i++;
  };
  const number = () => {
    const match = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!match) fail(i >= text.length ? "a value" : "a value (a string needs double quotes)");
    i += match![0].length;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      ws();
      if (text[i] === "}") return void i++;
      for (;;) {
        ws();
        if (text[i] !== '"') fail('a property name in double quotes');
        string();
        ws();
        if (text[i] !== ":") fail('":"');
        i++;
        value();
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "}") return void i++;
        else fail('"," or "}"');
      }
    }
    if (c === "[") {
      i++;
      ws();
      if (text[i] === "]") return void i++;
      for (;;) {
        value();
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "]") return void i++;
        else fail('"," or "]"');
      }
    }
    if (c === '"') return string();
    if (c === "t") return literal("true");
    if (c === "f") return literal("false");
    if (c === "n") return literal("null");
    number();
  };
  try {
    value();
    ws();
    if (i < text.length) fail("the end of the file (one JSON value only)");
    return undefined;
  } catch (error) {
    const at = Math.min((error as { at?: number }).at ?? i, text.length);
    const before = text.slice(0, at).split("\n");
    return { offset: at, line: before.length, column: before.at(-1)!.length + 1, expected: (error as Error).message };
  }
}
