import type { BenchContext } from "./lib/context.js";
export async function shaping(_ctx: BenchContext): Promise<void> {
  throw new Error("not written yet");
}
