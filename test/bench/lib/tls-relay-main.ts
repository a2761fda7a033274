// The bare TLS relay the tls benchmark measures netimpair against, in its own process:
// tls.createServer + tls.connect + pipe, nothing else. argv: UPSTREAM_PORT CERT KEY CA (files).
// Prints its listen port on stdout.
import tls from "node:tls";
import { readFileSync } from "node:fs";

const [upstreamPort, certFile, keyFile, caFile] = process.argv.slice(2) as [string, string, string, string];
const cert = readFileSync(certFile);
const key = readFileSync(keyFile);
const ca = readFileSync(caFile);
const server = tls.createServer({ cert, key }, (client) => {
  const upstream = tls.connect({ host: "127.0.0.1", port: Number(upstreamPort), ca });
  client.on("error", () => upstream.destroy());
  upstream.on("error", () => client.destroy());
  client.pipe(upstream);
  upstream.pipe(client);
});
server.listen(0, "127.0.0.1", () => {
  const a = server.address();
  process.stdout.write(`${typeof a === "object" && a !== null ? a.port : 0}\n`);
});
process.on("SIGTERM", () => process.exit(0));
