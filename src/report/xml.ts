// Text made safe inside XML (the JUnit report): markup characters escaped, characters XML 1.0
// cannot hold dropped.
export function escapeXml(text: string): string {
  // characters XML 1.0 cannot hold at all are dropped
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, "").replace(/[<>&"']/g, (c) => `&${({ "<": "lt", ">": "gt", "&": "amp", '"': "quot", "'": "apos" } as Record<string, string>)[c]};`);
}
