// A service's gRPC client (@grpc/grpc-js) written to a known behaviour, run by the client-verdict
// tests as the command under `netimpair run` (not a test file). It loads --proto (service
// netimpair.verdicts.Pay: Charge, Slow, Warm), makes 3 Warm calls, then
// `--requests` Charge calls one after another and `--slow` Slow calls at once:
//   policy: grpc-js's own retry policy (service config: at most 4 attempts on UNAVAILABLE,
//           initialBackoff --backoff ms, multiplier 2) and a --timeout ms deadline on Slow;
//   careless: retries at once on any error (at most 10 attempts), no deadline.
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

const args: Record<string, string> = {};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) args[argv[i]!.replace(/^--/, "")] = argv[i + 1]!;
const policy = args.mode !== "careless";
const backoff = Number(args.backoff ?? 200);
const timeout = Number(args.timeout ?? 400);
const requests = Number(args.requests ?? 2);
const slow = Number(args.slow ?? 2);

interface Msg {
  seq: number;
  text: string;
}
type Unary = (msg: Msg, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Msg) => void) => void;
interface PayClient extends grpc.Client {
  Charge: Unary;
  Slow: Unary;
  Warm: Unary;
}

const def = protoLoader.loadSync(args.proto!, { defaults: true });
const pkg = grpc.loadPackageDefinition(def) as unknown as { netimpair: { verdicts: { Pay: new (address: string, creds: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => PayClient } } };
const serviceConfig = {
  methodConfig: [
    {
      name: [{ service: "netimpair.verdicts.Pay", method: "Charge" }],
      retryPolicy: { maxAttempts: 4, initialBackoff: `${backoff / 1000}s`, maxBackoff: "5s", backoffMultiplier: 2, retryableStatusCodes: ["UNAVAILABLE"] },
    },
  ],
};
const client = new pkg.netimpair.verdicts.Pay(args.address!, grpc.credentials.createInsecure(), policy ? { "grpc.service_config": JSON.stringify(serviceConfig), "grpc.enable_retries": 1 } : { "grpc.enable_retries": 0 });

function call(method: "Charge" | "Slow" | "Warm", msg: Msg, deadlineMs?: number): Promise<grpc.status> {
  return new Promise((resolve) => {
    const options: grpc.CallOptions = deadlineMs !== undefined ? { deadline: new Date(Date.now() + deadlineMs) } : {};
    client[method].call(client, msg, options, (err) => resolve(err ? err.code : grpc.status.OK));
  });
}

async function charge(seq: number): Promise<string> {
  if (policy) return String(await call("Charge", { seq, text: `charge ${seq}` }));
  const codes: grpc.status[] = [];
  for (let k = 0; k < 10; k++) {
    const code = await call("Charge", { seq, text: `charge ${seq}` });
    codes.push(code);
    if (code === grpc.status.OK) break;
  }
  return codes.join(",");
}

for (let i = 0; i < 3; i++) await call("Warm", { seq: i, text: "warm" });
const results: string[] = [];
for (let i = 1; i <= requests; i++) results.push(await charge(i));
results.push(...(await Promise.all(Array.from({ length: slow }, (_, i) => call("Slow", { seq: i + 1, text: "slow" }, policy ? timeout : undefined).then(String)))));
client.close();
process.stdout.write(JSON.stringify({ results }) + "\n");
