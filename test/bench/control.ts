import type { BenchContext } from "./lib/context.js";
export async function control(_ctx: BenchContext): Promise<void> {
  throw new Error("not written yet");
}
