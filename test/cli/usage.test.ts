// Usage errors exit 2 with a message naming the flag and the value; nothing is contacted.
import { test } from "node:test";
import assert from "node:assert/strict";
import { runCli } from "../support/cli.js";

// an agent URL nobody would answer on: usage errors must be found before any connection
const AGENT = ["--agent", "ws://127.0.0.1:9/control"];

const cases: { args: string[]; mention: RegExp[] }[] = [
  { args: ["apply", "3g"], mention: [/--proxy/] },
  { args: ["apply", "3g", "--proxy", "pg", "--for", "soon"], mention: [/--for/, /"soon"/] },
  { args: ["apply", "3g", "--proxy", "pg", "--for", "30d"], mention: [/--for/, /"30d"/] },
  { args: ["apply", "3g", "--proxy", "pg", "--percent", "120"], mention: [/--percent/, /"120"/, /0-100/] },
  { args: ["apply", "3g", "--proxy", "pg", "--percent", "-1"], mention: [/--percent/, /"-1"/] },
  { args: ["apply", "3g", "--proxy", "pg", "--set", "down.delay"], mention: [/--set/, /"down\.delay"/, /PATH=VALUE/] },
  { args: ["apply", "3g", "--proxy", "pg", "--set", "=200ms"], mention: [/--set/, /"=200ms"/] },
  { args: ["apply", "3g", "--proxy", "pg", "--set", "down..delay=1"], mention: [/--set/, /down\.\.delay/] },
  { args: ["apply", "3g", "--proxy", "pg", "--client", "10.0.0.0/40"], mention: [/--client/, /10\.0\.0\.0\/40/] },
  { args: ["apply", "3g", "--proxy", "pg", "--all"], mention: [/--all/, /--proxy/] },
  { args: ["apply", "3g", "--proxy", "pg", "--bogus"], mention: [/--bogus/] },
  { args: ["apply", "./no/such/profile.yaml", "--proxy", "pg"], mention: [/no\/such\/profile\.yaml/] },
  { args: ["frobnicate"], mention: [/frobnicate/] },
  { args: ["status", "--timeout", "fast"], mention: [/--timeout/, /"fast"/] },
  { args: ["status", "--concurrency", "0"], mention: [/--concurrency/, /"0"/] },
  { args: ["proxy", "add", "pg", "--listen", "127.0.0.1:99999", "--upstream", "127.0.0.1:5432"], mention: [/--listen/, /99999/] },
  { args: ["proxy", "add", "pg", "--upstream", "127.0.0.1:5432"], mention: [/--listen/] },
  { args: ["reset", "--all", "--conn", "c1"], mention: [/--conn/, /--proxy/] },
  { args: ["watch", "--interval", "never"], mention: [/--interval/, /"never"/] },
  { args: ["agent", "--label", "novalue"], mention: [/--label/, /"novalue"/] },
  { args: ["agent", "--tls-cert", "cert.pem"], mention: [/--tls-key/] },
];

for (const c of cases) {
  test(`usage error: netimpair ${c.args.join(" ")}`, async () => {
    const r = await runCli([...AGENT, ...c.args]);
    assert.equal(r.code, 2, `exit code (stderr: ${r.stderr})`);
    assert.equal(r.stdout, "");
    for (const m of c.mention) assert.match(r.stderr, m);
  });
}

test("bad --agent values are usage errors naming the value", async () => {
  for (const bad of ["ftp://x:1/control", "dns://nohost", "dns://x:70000", "http://"]) {
    const r = await runCli(["--agent", bad, "status"]);
    assert.equal(r.code, 2, `${bad}: ${r.stderr}`);
    assert.ok(r.stderr.includes(JSON.stringify(bad)), `${bad} named in: ${r.stderr}`);
  }
});

test("bad NETIMPAIR_AGENT is a usage error naming the variable", async () => {
  const r = await runCli(["status"], { env: { NETIMPAIR_AGENT: "gopher://x" } });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /NETIMPAIR_AGENT "gopher:\/\/x"/);
});

test("--help exits 0 and lists the commands", async () => {
  const r = await runCli(["--help"]);
  assert.equal(r.code, 0);
  for (const cmd of ["agent", "proxy", "apply", "clear", "status", "watch", "conns", "profiles", "reset", "panic"]) {
    assert.match(r.stdout, new RegExp(`^\\s+${cmd}\\b`, "m"));
  }
});
