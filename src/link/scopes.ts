// The shared links of one proxy, by scope: one per client address (share: client) or one for the
// whole proxy (share: proxy), per direction, queueing discipline and bandwidth (connections that
// run different links do not share one). Created when a connection first needs one, dropped when
// its last connection leaves.
import type { DirectionSpec, QueueDiscipline, ShareScope } from "../profiles/types.js";
import type { Now } from "../clock.js";
import type { Link } from "./link.js";
import { SharedLink } from "./shared.js";

export class LinkScopes {
  private readonly links = new Map<string, SharedLink<Link>>();

  constructor(private readonly now: Now) {}

  /** Shared links alive now. */
  get size(): number {
    return this.links.size;
  }

  /**
   * The shared link a connection's direction runs on, or null when it runs a clock of its own:
   * share connection, or a link without a bandwidth limit (nothing to share).
   */
  linkFor(
    dir: "up" | "down",
    share: ShareScope,
    queue: QueueDiscipline,
    clientAddress: string,
    spec: DirectionSpec,
  ): SharedLink<Link> | null {
    if (share === "connection" || spec.bandwidth === null) return null;
    const scope = share === "proxy" ? "" : clientAddress;
    const key = `${dir}|${share}|${scope}|${queue}|${spec.bandwidth}`;
    let link = this.links.get(key);
    if (link === undefined) {
      const created: SharedLink<Link> = new SharedLink<Link>(spec.bandwidth, queue, spec, this.now, () => {
        if (this.links.get(key) === created) this.links.delete(key);
      });
      link = created;
      this.links.set(key, link);
    }
    return link;
  }
}
