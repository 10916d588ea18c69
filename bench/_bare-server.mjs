// The baseline for bench/serve in --servers process mode: a bare node:http
// server in its own process that reads the body and answers the bytes serve
// answers for a duplicate. Prints its URL like `dedupe-cli serve` does.
import http from "node:http";

const answer = Buffer.from(process.argv[2] ?? "{}");
const server = http.createServer((req, res) => {
  req.on("data", () => undefined);
  req.on("end", () => {
    res.writeHead(200, { "content-type": "application/json", "content-length": answer.length });
    res.end(answer);
  });
});
server.listen(0, "127.0.0.1", () => process.stdout.write(`listening on http://127.0.0.1:${server.address().port}\n`));
process.on("SIGTERM", () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
