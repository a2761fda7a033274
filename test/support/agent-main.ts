// A tiny agent entry point for tests (not a test file): runAgent with the flags given as one
// JSON argument, exit 0 after a clean stop, 1 with the error on stderr.
import { runAgent, type AgentFlags } from "../../src/index.js";

const flags = { proxy: [], label: [], allowOrigin: [], ...(JSON.parse(process.argv[2] ?? "{}") as Partial<AgentFlags>) } as AgentFlags;
runAgent(flags).then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`agent failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
