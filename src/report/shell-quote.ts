// A command line as a POSIX shell would take it back: `sh -c 'sleep 1; exit 3'`, for the
// runner's notes and summaries, so a reader sees where each argument begins and ends.

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** One argument, quoted only when it needs it (single quotes; a ' inside becomes '\''). */
export function shellQuoteArg(arg: string): string {
  if (arg === "") return "''";
  if (SAFE.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** argv as one shell-quoted line. */
export function shellQuote(argv: readonly string[]): string {
  return argv.map(shellQuoteArg).join(" ");
}
