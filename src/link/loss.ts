// Loss models. A lost segment is not dropped (TCP would retransmit it): the link delivers it one
// retransmission timeout late and holds everything behind it, which is how loss looks to a TCP peer.
import type { DirectionSpec, GilbertElliottLoss } from "../profiles/types.js";
import type { Random } from "../clock.js";

/** Decides, segment by segment, whether a segment is lost. */
export interface LossModel {
  lost(): boolean;
}

const NEVER: LossModel = { lost: () => false };

export class BernoulliLoss implements LossModel {
  constructor(
    private readonly probability: number,
    private readonly random: Random,
  ) {}
  lost(): boolean {
    return this.random() < this.probability;
  }
}

/** Two-state Markov chain: losses come in bursts while the channel is "bad". */
export class GilbertElliottLossModel implements LossModel {
  private bad = false;
  constructor(
    private readonly params: GilbertElliottLoss,
    private readonly random: Random,
  ) {}
  lost(): boolean {
    const p = this.params;
    this.bad = this.bad ? this.random() >= p.pBadToGood : this.random() < p.pGoodToBad;
    return this.random() < (this.bad ? p.lossInBad : p.lossInGood);
  }
}

export function lossModel(spec: DirectionSpec, random: Random): LossModel {
  if (spec.gilbertElliott) return new GilbertElliottLossModel(spec.gilbertElliott, random);
  if (spec.loss > 0) return new BernoulliLoss(spec.loss, random);
  return NEVER;
}
