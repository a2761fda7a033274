#!/usr/bin/env node
// The `netimpair` binary.
import { main } from "./program.js";

await main();
