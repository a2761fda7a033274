// What rules see of one SQL request (postgres, mysql): its query, user and database. The label
// (the query's first 100 characters, whitespace folded) is made only when an event or a log
// needs it: on a proxy with rules every request is matched, few are ever named.
import type { RequestInfo } from "../../requests/protocol.js";

export class SqlRequest implements RequestInfo {
  readonly fields: { query: string | undefined; user: string | undefined; database: string | undefined };

  /** `other`: the label of a request without a query (a COM_STMT_EXECUTE); `ellipsis`: mark a cut query with "..." */
  constructor(
    query: string | undefined,
    user: string | undefined,
    database: string | undefined,
    private readonly other = "",
    private readonly ellipsis = true,
  ) {
    this.fields = { query, user, database };
  }

  get label(): string {
    const q = this.fields.query;
    if (q === undefined) return this.other;
    const cut = q.length > 100 ? `${q.slice(0, 100)}${this.ellipsis ? "..." : ""}` : q;
    return cut.replace(/\s+/g, " ").trim();
  }
}
