// A TCP relay that holds every chunk for a fixed time in each direction, so
// a benchmark on one machine can see a database on another host (one-way
// delay d: every round trip gets 2d longer). Used by bench/drain.mjs
// --one-way-delay. Prints its port once listening; stops with its parent.
//
//   node bench/_delay-relay.mjs <target host> <target port> <one-way delay ms>
import net from "node:net";

const [host, port, delay] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];

function forward(from, to) {
  // setTimeout keeps the order of chunks sent in order with the same delay.
  from.on("data", (chunk) => setTimeout(() => to.write(chunk), delay));
  from.on("close", () => setTimeout(() => to.destroy(), delay + 1));
  from.on("error", () => to.destroy());
}

const server = net.createServer((client) => {
  const upstream = net.connect(port, host);
  forward(client, upstream);
  forward(upstream, client);
});
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
process.stdin.on("end", () => process.exit(0)).resume();
