// The figures a run report carries about the clients behind each proxy (SPEC "Verdicts on the
// client"): `clients.PROXY` (retries, spacing, amplification, timeouts, breaker) and
// `expectations[]` (each `expect:` limit, held or broken). The experiment computes them; the
// report writers read them.

export type ExpectationKind = "retries" | "backoff" | "timeout" | "circuitBreaker";

/** The figures of one proxy's clients over the run (report `clients.PROXY`). */
export interface ClientStats {
  /** attempts seen (every request the proxy framed) */
  requests: number;
  /** attempts that failed: an injected fail, lose or reset, an error answer, or abandoned by the client */
  failedAttempts: number;
  retries: {
    /** retries per failed request (a request whose first attempt failed) */
    perFailure: { p50: number | null; max: number | null };
    /** median ms before the 1st retry, the 2nd, ... (from the failed attempt's answer, or its arrival) */
    spacingMs: number[];
  };
  /** requests sent / distinct requests: 1.0 means no retries; null without requests */
  amplification: number | null;
  timeouts: {
    /** attempts held by a delay (or lost) that the client gave up on before the answer */
    abandoned: number;
    p50Ms: number | null;
    maxMs: number | null;
    /** attempts held by a delay that the client waited out to the answer */
    neverGaveUp: number;
  };
  breaker: {
    opened: boolean;
    /** failures in a row before the client's first long pause */
    afterFailures: number | null;
    /** that pause, ms (from the last failure to the next request) */
    pauseMs: number | null;
    /** the most failures in a row any client had */
    maxFailuresInRow: number;
  };
  /** a few failed requests with their attempts (ms from the first attempt), for the HTML timeline */
  examples: FailedRequestExample[];
}

export interface FailedRequestExample {
  client: string;
  request: string;
  /** each attempt: ms after the first one's arrival, its outcome, and whether it failed */
  attempts: { atMs: number; outcome: string; failed: boolean }[];
}

/** One expectation's verdict (report `expectations[]`, a JUnit testcase each). */
export interface ExpectationResult {
  proxy: string;
  what: ExpectationKind;
  /** the limit as written (ms for times) */
  limit: Record<string, number>;
  /** the figures that decided; null when nothing was seen to judge */
  got: Record<string, number | number[] | boolean | null> | null;
  held: boolean;
  /** one line: "retried a failed request 10 times (at most 3 expected)" */
  text: string;
}
