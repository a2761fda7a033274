// `netimpair run`: plays a scenario's timeline on one or more agents, optionally around a
// command, and measures each step. Everything is applied bound to one control session per agent,
// so the end of the run, Ctrl-C, a failure or a killed runner all return the proxies to what they
// had before (the agent reverts a session's bound impairments when it closes).
import { ConnectionError, RpcError } from "../control/client.js";
import type { ProxyInfo } from "../control/protocol.js";
import { startCommand, type CommandExit, type RunningCommand } from "./command.js";
import { describeTimelineAction, planTimeline, stepLabel, stepProxies, type Timeline, type TimelineAction } from "./plan.js";
import { silentProgress, type ProgressSink } from "./progress.js";
import { addToSnapshot, trafficBetween, type CounterSnapshot, type PhaseReport, type RunReport, type StepReport } from "../report/report.js";
import { describeAction } from "./schema.js";
import { shellQuote } from "../report/shell-quote.js";
import { describeFieldPath } from "./load.js";
import { AgentSession, type AgentRef } from "./session.js";
import type { Scenario } from "./types.js";
import { constants } from "node:os";
import { ExperimentWatch, type WindowResult } from "../experiment/watch.js";
import { judgeRun } from "../experiment/judge.js";
import { ClientWatch } from "../experiment/client-watch.js";
import { notifyRun } from "../experiment/notify.js";
import { stepsEndingBetter } from "./better.js";
import { recordPoll, recordSamples, type RunSeries } from "../report/series.js";
import { breachText } from "../report/format.js";

/** How long the runner waits, at the end, for the request events of the command's last connections. */
const CLIENT_EVENTS_SETTLE_MS = 250;

export interface RunOptions {
  scenario: Scenario;
  agents: AgentRef[];
  /** argv of the command to run under the scenario, or null to play the timeline to its end */
  command: string[] | null;
  /** run the command once clean first */
  baseline?: boolean;
  /** per control call and connect, ms (default 10 s) */
  timeoutMs?: number;
  /** aborting stops the run like Ctrl-C; the reason may name the signal ("SIGINT") */
  signal?: AbortSignal;
  /** told of the command each time one starts (baseline, impaired run) and null when it has exited: a second Ctrl-C kills it */
  onCommand?: (cmd: RunningCommand | null) => void;
  progress?: ProgressSink;
  /** how often agents are polled for liveness, outside clears and live throughput (default 1 s) */
  pollMs?: number;
  /** stdio of the command (default inherit) */
  commandStdio?: "inherit" | "ignore";
  /** ms a stopped command gets between its signal and SIGKILL (default 5 s) */
  stopGraceMs?: number;
  /** filled with throughput, faults and probe samples over time (for the HTML report) */
  series?: RunSeries;
  /** POST the verdict to the scenario's notify.webhook (default true) */
  notify?: boolean;
}

type StopReason =
  | { kind: "done" }
  | { kind: "command"; exit: CommandExit }
  | { kind: "failed"; message: string }
  | { kind: "aborted"; reason: string; atMs: number }
  | { kind: "interrupted"; signal: NodeJS.Signals };

function describeError(err: unknown): string {
  if (err instanceof ConnectionError || err instanceof RpcError) return err.message;
  return err instanceof Error ? err.message : String(err);
}

/** An error's cause without the agent's URL (the message names the agent itself). */
function causeOf(err: unknown): string {
  return err instanceof ConnectionError ? err.reason : describeError(err);
}

/** The agent as messages name it: its URL, or `NAME (URL)` for an inventory name. */
function agentLabel(ref: AgentRef): string {
  return ref.name === ref.url ? ref.url : `${ref.name} (${ref.url})`;
}

function signalOf(reason: unknown): NodeJS.Signals {
  return typeof reason === "string" && reason.startsWith("SIG") ? (reason as NodeJS.Signals) : "SIGINT";
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

/** Plays a scenario and returns its report (it never throws for run-time problems: they end up in the report). */
export async function runScenario(opts: RunOptions): Promise<RunReport> {
  return new ScenarioRun(opts).play();
}

class ScenarioRun {
  private readonly scenario: Scenario;
  private readonly progress: ProgressSink;
  private readonly timeoutMs: number;
  private sessions: AgentSession[] = [];
  private allProxies: string[] = [];
  private scenarioProxies: string[] = [];
  private timeline: Timeline = { actions: [], endsAt: 0, spans: [], boundaries: [] };

  private stopReason: StopReason | null = null;
  private wake: (() => void) | null = null;
  private stoppedPromise: Promise<void>;
  private resolveStopped!: () => void;

  private t0 = 0;
  private startedAt = new Date();
  private readonly snapshots = new Map<number, CounterSnapshot>();
  private stepStart: (number | null)[] = [];
  private stepEnd: (number | null)[] = [];
  private stepError: (string | null)[] = [];
  private command: RunningCommand | null = null;
  /** the command's exit; byRunner: the run had stopped for another reason first, and ended it */
  private commandExit: { atMs: number; exit: CommandExit; byRunner: boolean } | null = null;
  /** the step whose failed action stopped the run, if one did */
  private stoppedByStep: number | null = null;
  private currentStep: number | null = null;
  private lastBytes = new Map<string, { up: number; down: number; at: number }>();
  private lastFaults = new Map<string, Record<string, number>>();
  /** the experiment's probes, slo and stop condition (null without probes) */
  private readonly watch: ExperimentWatch | null;
  /** the scenario's expect: (verdicts on the client), null without */
  private readonly clientWatch: ClientWatch | null;
  private steadyBefore: WindowResult | null = null;
  private steadyAfter: WindowResult | null = null;

  constructor(private readonly opts: RunOptions) {
    this.scenario = opts.scenario;
    this.progress = opts.progress ?? silentProgress;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.stoppedPromise = new Promise((r) => (this.resolveStopped = r));
    const n = this.scenario.steps.length;
    this.stepStart = new Array<number | null>(n).fill(null);
    this.stepEnd = new Array<number | null>(n).fill(null);
    this.stepError = new Array<string | null>(n).fill(null);
    const exp = this.scenario.experiment;
    this.watch =
      exp && exp.probes.length > 0
        ? new ExperimentWatch(exp, {
            abort: (reason) => {
              if (this.stopReason) return;
              this.progress.note(`${seconds(this.now())} ${reason}: reverting everything and stopping`);
              this.stop({ kind: "aborted", reason, atMs: this.now() });
            },
            note: (line) => this.progress.note(line),
          })
        : null;
    this.clientWatch = this.scenario.expect.length > 0 ? new ClientWatch(this.scenario.expect) : null;
  }

  private now(): number {
    return performance.now() - this.t0;
  }

  private stop(reason: StopReason): void {
    if (this.stopReason) return;
    this.stopReason = reason;
    this.resolveStopped();
    this.wake?.();
  }

  /** Waits until `ms` after the run's start, or until the run stops. */
  private async waitUntil(ms: number): Promise<void> {
    for (;;) {
      if (this.stopReason) return;
      const left = ms - this.now();
      if (left <= 0) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(left, 2 ** 31 - 1));
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.wake = done;
      });
      this.wake = null;
    }
  }

  async play(): Promise<RunReport> {
    const onAbort = (): void => this.stop({ kind: "interrupted", signal: signalOf(this.opts.signal?.reason) });
    if (this.opts.signal?.aborted) onAbort();
    this.opts.signal?.addEventListener("abort", onAbort, { once: true });
    let baseline: PhaseReport | null = null;
    try {
      let ready = await this.prepare();
      if (ready && this.watch) ready = await this.steadyStateBefore(this.watch);
      if (ready && this.opts.baseline && this.opts.command) baseline = await this.baselinePhase();
      if (ready && !this.stopReason) await this.impairedPhase();
      else this.startedAt = new Date();
    } finally {
      this.opts.signal?.removeEventListener("abort", onAbort);
    }
    await this.finish();
    const report = this.buildReport(baseline);
    const notify = this.scenario.experiment?.notify;
    if (notify && this.opts.notify !== false) {
      report.notified = await notifyRun(report, notify);
      if (report.notified && !report.notified.ok) this.progress.note(`notify: ${notify.webhook}: ${report.notified.error ?? "failed"}`);
    }
    return report;
  }

  // ------------------------------------------------------------------ the experiment's steady state

  /** Starts the probes; with steadyState.before, probes first and applies nothing unless it holds. */
  private async steadyStateBefore(watch: ExperimentWatch): Promise<boolean> {
    watch.start();
    const before = watch.experiment.steadyState?.before ?? 0;
    if (before === 0) return true;
    this.progress.note(`steady state: probing ${watch.experiment.probes.map((p) => p.name).join(", ")} for ${seconds(before)} before anything is applied`);
    const result = await watch.steadyWindow(before, "steadyState.before", this.stoppedPromise);
    if (result === null) return false;
    this.steadyBefore = result;
    if (result.breaches.length > 0) {
      this.stop({ kind: "failed", message: `not steady: ${result.breaches.map((b) => breachText(b, false)).join("; ")}; nothing was applied` });
      return false;
    }
    return true;
  }

  /** After the revert: steadyState.after, then the recoveries still pending; then the probes stop. */
  private async steadyStateAfter(watch: ExperimentWatch): Promise<void> {
    const interrupted = (): boolean => this.stopReason?.kind === "interrupted" || this.opts.signal?.aborted === true;
    try {
      if (this.t0 === 0 || interrupted()) return;
      const cut = new Promise<void>((resolve) => this.opts.signal?.addEventListener("abort", () => resolve(), { once: true }));
      const after = watch.experiment.steadyState?.after ?? 0;
      if (after > 0) {
        this.progress.note(`steady state: probing for ${seconds(after)} after the revert`);
        this.steadyAfter = await watch.steadyWindow(after, "steadyState.after", cut);
      }
      const better = stepsEndingBetter(this.scenario.steps, this.timeline, this.allProxies);
      const spans = this.stepEnd.flatMap((end, i) => (end !== null && better[i] && this.stepStart[i] !== null ? [{ start: this.t0 + this.stepStart[i]!, end: this.t0 + end }] : []));
      await watch.awaitRecoveries(spans, interrupted);
    } finally {
      watch.stop();
    }
  }

  /** The stop condition held: every proxy the run touched goes back to what it had, at once. */
  private async revertNow(): Promise<void> {
    await Promise.allSettled(this.sessions.flatMap((s) => [...s.applied.keys()].map((p) => s.set(p, { kind: "baseline" }))));
  }

  // ------------------------------------------------------------------ before the run

  /** Connects to every agent and checks that every proxy and profile the scenario names exists. */
  private async prepare(): Promise<boolean> {
    if (this.opts.agents.length === 0) {
      this.stop({ kind: "failed", message: "no agent to run on" });
      return false;
    }
    const opened = await Promise.allSettled(this.opts.agents.map((a) => AgentSession.open(a, this.timeoutMs)));
    const problems: string[] = [];
    opened.forEach((o, i) => {
      if (o.status === "fulfilled") {
        const s = o.value;
        this.sessions.push(s);
        // a panic or clear cancels the run at the agent (which refuses its further bound
        // applies) and tells the session at once: the remaining steps stop here too
        s.client.onCancelled((c) => {
          // name what the run impaired there, not every proxy the panic or clear touched
          const ours = c.proxies.filter((p) => s.applied.has(p));
          const named = ours.length > 0 ? ours : c.proxies.filter((p) => this.scenarioProxies.includes(p));
          const list = named.length > 0 ? named.join(", ") : "the run's proxies";
          const were = named.length === 1 ? "was" : "were";
          this.stop({ kind: "failed", message: `${list} on agent ${s.ref.name} ${were} cleared from outside the run (netimpair panic or clear), ${c.cause} by ${c.by}: the remaining steps are cancelled` });
        });
      }
      else problems.push(`agent ${agentLabel(this.opts.agents[i]!)} is unreachable: ${causeOf(o.reason)}`);
    });
    if (problems.length === 0) {
      this.allProxies = [...new Set(this.sessions.flatMap((s) => [...s.proxies]))].sort();
      const used = new Set<string>();
      // a proxy no agent has is said once, at the first step that names it
      const missing = new Map<string, string[]>();
      for (const step of this.scenario.steps) {
        for (const p of stepProxies(step, this.allProxies)) {
          used.add(p);
          if (!this.sessions.some((s) => s.proxies.has(p))) missing.set(p, [...(missing.get(p) ?? []), describeFieldPath(step.path)]);
        }
      }
      for (const [p, paths] of missing) {
        const more = paths.length > 1 ? ` (and ${paths.length - 1} more step${paths.length > 2 ? "s" : ""})` : "";
        problems.push(`${paths[0]}${more}: proxy ${JSON.stringify(p)} is on no agent (they have: ${this.allProxies.join(", ") || "no proxies"})`);
      }
      this.scenarioProxies = [...used].sort();
      problems.push(...(await this.checkProfiles()));
      if (this.clientWatch) problems.push(...(await this.listenToClients(this.clientWatch)));
    }
    if (problems.length > 0 || this.stopReason) {
      if (!this.stopReason) this.stop({ kind: "failed", message: [...new Set(problems)].join("; ") });
      return false;
    }
    this.timeline = planTimeline(this.scenario, this.allProxies);
    return true;
  }

  /** expect:'s proxies must exist; their agents send every request of theirs (topic requests, all). */
  private async listenToClients(watch: ClientWatch): Promise<string[]> {
    const problems: string[] = [];
    watch.expect.forEach((e, i) => {
      if (!this.sessions.some((s) => s.proxies.has(e.proxy))) problems.push(`expect.${i}.proxy: proxy ${JSON.stringify(e.proxy)} is on no agent (they have: ${this.allProxies.join(", ") || "no proxies"})`);
    });
    if (problems.length > 0) return problems;
    await Promise.all(
      this.sessions
        .filter((s) => watch.proxies.some((p) => s.proxies.has(p)))
        .map(async (s) => {
          try {
            await s.client.subscribe(["requests"], (n) => watch.onEvent(n), { requests: "all" });
          } catch (err) {
            problems.push(`agent ${agentLabel(s.ref)}: cannot watch requests for expect: ${causeOf(err)}`);
          }
        }),
    );
    return problems;
  }

  /** Named profiles must exist on the agents that use them; ramp ends are resolved there. */
  private async checkProfiles(): Promise<string[]> {
    const problems: string[] = [];
    await Promise.all(
      this.sessions.map(async (s) => {
        let names: Set<string>;
        try {
          names = new Set(await s.client.profiles());
        } catch (err) {
          problems.push(`agent ${agentLabel(s.ref)}: ${causeOf(err)}`);
          return;
        }
        for (const step of this.scenario.steps) {
          if (!stepProxies(step, this.allProxies).some((p) => s.proxies.has(p))) continue;
          const a = step.action;
          const wanted = a.kind === "apply" && a.profile !== undefined ? [a.profile] : a.kind === "ramp" ? [a.from, a.to] : [];
          for (const name of wanted) {
            if (!names.has(name)) {
              problems.push(`${describeFieldPath(step.path)}: profile ${JSON.stringify(name)} is not on agent ${s.ref.name}`);
              continue;
            }
            if (a.kind !== "ramp") continue;
            try {
              await s.resolveRampProfile(name);
            } catch (err) {
              problems.push(`${describeFieldPath(step.path)}: profile ${JSON.stringify(name)} on agent ${agentLabel(s.ref)}: ${causeOf(err)}`);
            }
          }
        }
      }),
    );
    return problems;
  }

  /** Starts the command; onCommand hears of it until it exits. */
  private startCommand(): RunningCommand {
    const cmd = startCommand(this.opts.command!, { stdio: this.opts.commandStdio ?? "inherit" });
    this.opts.onCommand?.(cmd);
    void cmd.exited.then(() => this.opts.onCommand?.(null));
    return cmd;
  }

  // ------------------------------------------------------------------ the clean baseline

  private async baselinePhase(): Promise<PhaseReport | null> {
    const startedAt = new Date();
    const dirty = (s: AgentSession): string[] => this.scenarioProxies.filter((p) => s.proxies.has(p) && s.before.get(p) !== null);
    this.progress.note(`baseline: running ${shellQuote(this.opts.command!)} on a clean link`);
    try {
      await Promise.all(this.sessions.flatMap((s) => dirty(s).map((p) => s.set(p, { kind: "clean" }))));
    } catch (err) {
      this.stop({ kind: "failed", message: `baseline: could not clear the proxies: ${describeError(err)}` });
      return null;
    }
    const t = performance.now();
    const before = await this.snapshotOrStop();
    if (!before) return null;
    const cmd = this.startCommand();
    const exit = await Promise.race([cmd.exited, this.stoppedPromise.then(() => null)]);
    if (exit === null) {
      const reason = this.stopReason;
      await cmd.stop(reason?.kind === "interrupted" ? reason.signal : "SIGTERM", this.opts.stopGraceMs);
      return null;
    }
    const durationMs = performance.now() - t;
    if (exit.error) this.progress.note(exit.error);
    const after = await this.snapshotOrStop();
    if (!after) return null;
    this.progress.note(`baseline: exited with ${exit.code} after ${seconds(durationMs)}`);
    try {
      // back to what the proxies had, still bound to the session
      await Promise.all(this.sessions.flatMap((s) => dirty(s).map((p) => s.set(p, { kind: "baseline" }))));
    } catch (err) {
      this.stop({ kind: "failed", message: `baseline: could not restore the proxies: ${describeError(err)}` });
    }
    return { startedAt: startedAt.toISOString(), exitCode: exit.code, durationMs: Math.round(durationMs), perProxy: trafficBetween(before, after, durationMs, this.scenarioProxies) };
  }

  // ------------------------------------------------------------------ the impaired run

  private async impairedPhase(): Promise<void> {
    const tl = this.timeline;
    const times = [...new Set([...tl.actions.map((a) => a.at), ...tl.boundaries])].sort((a, b) => a - b);
    const byTime = new Map<number, TimelineAction[]>();
    for (const a of tl.actions) {
      const list = byTime.get(a.at) ?? [];
      list.push(a);
      byTime.set(a.at, list);
    }
    const first = await this.snapshotOrStop();
    if (!first) return;
    this.t0 = performance.now();
    this.startedAt = new Date();
    this.snapshots.set(-1, first);
    this.watch?.begin(this.t0);
    this.clientWatch?.begin();
    let i = 0;
    // the at: 0 steps are in place before the command starts
    while (i < times.length && times[i]! <= 0 && !this.stopReason) await this.runInstant(times[i++]!, byTime);
    if (this.stopReason) return;
    if (this.opts.command) {
      this.progress.note(`running ${shellQuote(this.opts.command)}`);
      const cmd = this.startCommand();
      this.command = cmd;
      void cmd.exited.then((exit) => {
        this.commandExit = { atMs: this.now(), exit, byRunner: this.stopReason !== null };
        if (exit.error) this.progress.note(exit.error);
        this.stop({ kind: "command", exit });
      });
    }
    const poller = this.startPolling();
    try {
      for (; i < times.length && !this.stopReason; i++) {
        await this.waitUntil(times[i]!);
        if (this.stopReason) break;
        await this.runInstant(times[i]!, byTime, this.supersededUpdates(times, i, byTime));
      }
      if (!this.opts.command) {
        await this.waitUntil(tl.endsAt);
        this.stop({ kind: "done" });
      }
      await this.stoppedPromise;
    } finally {
      clearInterval(poller);
    }
  }

  /**
   * Ramp and trace updates at times[i] that a later instant, already due, sets again on every
   * proxy they touch: running late (paced under the agent's rate limit), the run skips them
   * rather than falling behind its timeline.
   */
  private supersededUpdates(times: number[], i: number, byTime: Map<number, TimelineAction[]>): Set<TimelineAction> {
    const skipped = new Set<TimelineAction>();
    const now = this.now();
    const later = new Set<string>();
    for (let j = i + 1; j < times.length && times[j]! <= now; j++) for (const a of byTime.get(times[j]!) ?? []) for (const p of a.proxies) later.add(p);
    if (later.size === 0) return skipped;
    for (const a of byTime.get(times[i]!) ?? []) if (a.role === "update" && a.proxies.every((p) => later.has(p))) skipped.add(a);
    return skipped;
  }

  /** Everything due at one instant: a stats sample at step boundaries, then the actions. */
  private async runInstant(at: number, byTime: Map<number, TimelineAction[]>, skip: Set<TimelineAction> = new Set()): Promise<void> {
    const boundary = this.timeline.boundaries.includes(at);
    const sample = boundary ? this.snapshotOrStop() : Promise.resolve(null);
    const actions = (byTime.get(at) ?? []).filter((a) => !skip.has(a));
    await Promise.all(actions.map((a) => this.execute(a)));
    const snap = await sample;
    if (snap) this.snapshots.set(at, snap);
    if (this.stopReason && this.stopReason.kind === "failed") return;
    const now = this.now();
    this.scenario.steps.forEach((s, i) => {
      const span = this.timeline.spans[i]!;
      if (s.at === at && this.stepStart[i] === null) {
        this.stepStart[i] = now;
        this.currentStep = i;
      }
      if (span.end === at && this.stepStart[i] !== null && this.stepEnd[i] === null) this.stepEnd[i] = now;
    });
  }

  private async execute(a: TimelineAction): Promise<void> {
    if (a.role !== "update") this.progress.note(`${seconds(this.now())} ${describeTimelineAction(a, this.scenario.steps)}`);
    const calls = a.proxies.flatMap((proxy) =>
      this.sessions
        .filter((s) => s.proxies.has(proxy))
        .map((s) =>
          s.set(proxy, a.target).catch((err: unknown) => {
            throw new Error(`on ${agentLabel(s.ref)}, proxy ${proxy}: ${causeOf(err)}`);
          }),
        ),
    );
    const results = await Promise.allSettled(calls);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) {
      const why = describeError(failed.reason);
      this.stepError[a.step] ??= why;
      if (!this.stopReason) this.stoppedByStep = a.step;
      this.stop({ kind: "failed", message: `${stepLabel(a.step, this.scenario.steps)} (${describeAction(this.scenario.steps[a.step]!.action)}) failed ${why}` });
    }
  }

  /** Counters of the scenario's proxies summed over the agents; a failure stops the run. */
  private async snapshotOrStop(): Promise<CounterSnapshot | null> {
    const only = new Set(this.scenarioProxies);
    try {
      const lists = await Promise.all(
        this.sessions.map((s) =>
          s.client.proxies().catch((err: unknown) => {
            throw new Error(`lost agent ${agentLabel(s.ref)}: ${causeOf(err)}`);
          }),
        ),
      );
      const snap: CounterSnapshot = {};
      for (const list of lists) addToSnapshot(snap, list, only);
      return snap;
    } catch (err) {
      this.stop({ kind: "failed", message: describeError(err) });
      return null;
    }
  }

  /** Each tick: is every agent still there, did someone clear our proxies, how fast is the traffic. */
  private startPolling(): NodeJS.Timeout {
    let busy = false;
    const tick = async (): Promise<void> => {
      if (busy || this.stopReason) return;
      busy = true;
      try {
        const lists = await Promise.all(
          this.sessions.map(async (s) => {
            const quiet = s.inFlight === 0;
            let list: ProxyInfo[];
            try {
              list = await s.client.proxies();
            } catch (err) {
              throw new Error(`lost agent ${agentLabel(s.ref)}: ${causeOf(err)}`);
            }
            if (quiet) {
              const cleared = list.filter((p) => s.applied.get(p.name) === "impaired" && p.impairment === null).map((p) => p.name);
              if (cleared.length > 0) {
                throw new Error(`${cleared.join(", ")} on agent ${s.ref.name} ${cleared.length > 1 ? "were" : "was"} cleared from outside the run (netimpair panic or clear): the remaining steps are cancelled`);
              }
            }
            return list;
          }),
        );
        this.showProgress(lists);
      } catch (err) {
        this.stop({ kind: "failed", message: describeError(err) });
      } finally {
        busy = false;
      }
    };
    const timer = setInterval(() => void tick(), this.opts.pollMs ?? 1000);
    return timer;
  }

  private showProgress(lists: ProxyInfo[][]): void {
    const snap: CounterSnapshot = {};
    for (const list of lists) addToSnapshot(snap, list, new Set(this.scenarioProxies));
    const now = this.now();
    const throughput: Record<string, { up: number; down: number }> = {};
    for (const [name, c] of Object.entries(snap)) {
      const last = this.lastBytes.get(name);
      if (last && now > last.at) {
        const secs = (now - last.at) / 1000;
        throughput[name] = { up: Math.max(0, (c.bytesUp - last.up) / secs), down: Math.max(0, (c.bytesDown - last.down) / secs) };
      }
      this.lastBytes.set(name, { up: c.bytesUp, down: c.bytesDown, at: now });
    }
    if (this.opts.series) recordPoll(this.opts.series, now, snap, throughput, this.lastFaults);
    const i = this.currentStep;
    const span = i === null ? null : this.timeline.spans[i]!;
    this.progress.update({
      elapsedMs: now,
      totalMs: this.opts.command ? null : this.timeline.endsAt,
      step: i === null ? null : `${i + 1}/${this.scenario.steps.length} ${this.scenario.steps[i]!.name}`,
      stepLeftMs: span && span.end !== null ? span.end - now : null,
      throughput,
      ...(this.watch ? { probes: this.watch.live() } : {}),
    });
  }

  // ------------------------------------------------------------------ the end

  private async finish(): Promise<void> {
    const reason = this.stopReason ?? { kind: "done" as const };
    this.watch?.end();
    if (reason.kind === "aborted") await this.revertNow();
    if (this.command?.running) {
      const signal = reason.kind === "interrupted" ? reason.signal : "SIGTERM";
      this.progress.note(`stopping ${shellQuote(this.opts.command!)} (${signal})`);
      const exit = await this.command.stop(signal, this.opts.stopGraceMs);
      this.commandExit ??= { atMs: this.now(), exit, byRunner: true };
    }
    if (this.sessions.length > 0 && this.t0 > 0) {
      const only = new Set(this.scenarioProxies);
      const lists = await Promise.allSettled(this.sessions.map((s) => s.client.proxies()));
      const snap: CounterSnapshot = {};
      for (const l of lists) if (l.status === "fulfilled") addToSnapshot(snap, l.value, only);
      this.snapshots.set(Infinity, snap);
    }
    this.endMs = this.t0 > 0 ? this.now() : 0;
    this.progress.done();
    if (this.clientWatch) {
      // the command's last connections close as it exits: their request events are on the way
      await new Promise((r) => setTimeout(r, CLIENT_EVENTS_SETTLE_MS));
    }
    // closing the sessions is what reverts: the agent undoes every bound apply, newest first
    await Promise.allSettled(this.sessions.map((s) => s.close()));
    this.clientWatch?.end();
    if (this.watch) await this.steadyStateAfter(this.watch);
  }

  private endMs = 0;

  private exitCode(): number {
    const r = this.stopReason ?? { kind: "done" as const };
    switch (r.kind) {
      case "done":
        return 0;
      case "command":
        return r.exit.code;
      case "failed":
      case "aborted":
        return 1;
      case "interrupted":
        return 128 + (constants.signals[r.signal] ?? 2);
    }
  }

  private buildReport(baseline: PhaseReport | null): RunReport {
    const r = this.stopReason;
    const stopped = r === null || r.kind === "done" || r.kind === "command" ? null : r.kind === "failed" ? r.message : r.kind === "aborted" ? r.reason : `interrupted by ${r.signal}`;
    const stopCause = this.stoppedByStep === null ? stopped : null;
    const endMs = this.endMs;
    const at = (ms: number): string => new Date(this.startedAt.getTime() + ms).toISOString();
    const snapAt = (ms: number | null): CounterSnapshot | undefined => (ms === null ? this.snapshots.get(Infinity) : this.snapshots.get(ms) ?? this.snapshots.get(Infinity));
    const steps: StepReport[] = this.scenario.steps.map((s, i) => {
      const start = this.stepStart[i] ?? null;
      const plannedEnd = this.timeline.spans[i]?.end ?? null;
      const end = start === null ? null : (this.stepEnd[i] ?? endMs);
      const cut = start !== null && this.stepEnd[i] === null && plannedEnd !== null;
      const status = this.stepError[i] !== null ? "failed" : start === null ? "not-reached" : cut ? "cut-short" : "done";
      // in progress when the runner stopped the run for a reason of its own (not this step's failure)
      const stoppedBy = stopCause !== null && start !== null && this.stepEnd[i] === null && this.stepError[i] === null ? stopCause : null;
      const durationMs = start === null || end === null ? 0 : Math.max(0, end - start);
      const before = start === null ? undefined : this.snapshots.get(s.at);
      const after = start === null ? undefined : snapAt(this.stepEnd[i] === null ? null : plannedEnd);
      const proxies = stepProxies(s, this.allProxies);
      return {
        index: i,
        name: s.name,
        at: s.at,
        for: s.for,
        action: describeAction(s.action),
        proxies,
        startedAt: start === null ? null : at(start),
        endedAt: end === null ? null : at(end),
        lateMs: start === null ? null : Math.round(start - s.at),
        durationMs: Math.round(durationMs),
        status,
        ...(this.stepError[i] !== null ? { error: this.stepError[i]! } : {}),
        ...(stoppedBy !== null ? { stoppedBy } : {}),
        perProxy: before && after ? trafficBetween(before, after, durationMs, proxies) : {},
      };
    });
    const first = this.snapshots.get(-1);
    const last = this.snapshots.get(Infinity);
    const exit = this.commandExit;
    const report: RunReport = {
      scenario: this.scenario.name,
      description: this.scenario.description,
      startedAt: this.startedAt.toISOString(),
      exitCode: this.exitCode(),
      durationMs: Math.round(endMs),
      command: this.opts.command,
      commandExit: exit ? { atMs: Math.round(exit.atMs), code: exit.exit.code, signal: exit.exit.signal, stoppedByRunner: exit.byRunner } : null,
      agents: this.opts.agents.map((a) => ({ name: a.name, url: a.url })),
      stopped,
      steps,
      totals: first && last ? trafficBetween(first, last, endMs, this.scenarioProxies) : {},
      baseline,
    };
    if (this.watch) this.judge(report, this.watch);
    if (this.clientWatch) {
      const { clients, expectations } = this.clientWatch.result();
      report.clients = clients;
      report.expectations = expectations;
      if (report.exitCode === 0 && expectations.some((e) => !e.held)) report.exitCode = 1;
    }
    return report;
  }

  private judge(report: RunReport, watch: ExperimentWatch): void {
    const r = this.stopReason;
    const better = stepsEndingBetter(this.scenario.steps, this.timeline, this.allProxies);
    judgeRun(report, watch, {
      steps: this.scenario.steps.map((_, i) => {
        const start = this.stepStart[i] ?? null;
        return { start, end: start === null ? null : (this.stepEnd[i] ?? this.endMs), better: better[i] === true && this.stepEnd[i] !== null };
      }),
      endMs: this.endMs,
      before: this.steadyBefore,
      after: this.steadyAfter,
      aborted: r?.kind === "aborted" ? { reason: r.reason, atMs: Math.round(r.atMs) } : null,
    });
    if (this.opts.series) recordSamples(this.opts.series, watch, this.t0 > 0 ? this.t0 : (watch.beforeWindow?.to ?? performance.now()));
  }
}
