import type { BenchContext } from "./lib/context.js";
export async function scale(_ctx: BenchContext): Promise<void> {
  throw new Error("not written yet");
}
