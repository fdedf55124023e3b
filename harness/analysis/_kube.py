"""Checks of a Kubernetes target (``target.kube``) from its pod watch's events.

- ``target.restarts[<name>]``: FAIL when a container of the target died during the run
  (``kube_restart`` events: OOMKilled, Error, ...), naming pod, container, reason and count.
  A leak that "recovered" because its container was killed and restarted is not recovered:
  its fds/threads/memory series fall at the restart, so a growth or recovery check alone
  would see a service that came back. A death that is not an OOM kill, while a fault of the
  run names the target (``fault_added``/``fault_removed`` with ``target``: a pod kill or
  delete) or up to ``FAULT_GRACE_S`` after it, is the fault's doing: listed, not failed.
  INCONCLUSIVE when pods went away during the run and no fault of the run names the target
  (what ended them is unknown); ERROR when the pods were never read.
- ``target.observed[<name>]``: INCONCLUSIVE when, during the phases, the ``kube:`` series
  had a gap (the API server or a kubelet did not answer, pods gone, no series for a
  container) or no pod was ready, for ``GAP_LIMIT_S`` at a stretch or ``GAP_FRACTION`` of
  the phases in all: a metric the harness could not see for a while cannot pass. Gaps that
  begin while the run's own fault on the target is on (or up to ``FAULT_GRACE_S`` after)
  are its doing: listed, not counted; one that outlasts that window counts from its end.
"""

from __future__ import annotations

from typing import Any

from harness.analysis._common import num
from harness.analysis._phases import Span
from harness.events import EventKind
from harness.runfolder import RunRecord
from harness.scenario import Scenario, Target
from harness.verdicts import Check, CheckHead, Verdict

GAP_LIMIT_S = 5.0  # a gap this long at a stretch makes the target's data inconclusive
GAP_FRACTION = 0.10  # ... and so do shorter gaps adding up to this share of the phases
# a container death up to this long after the run's own fault on the target ended is the
# fault's doing (a killed container restarts within seconds; a CrashLoopBackOff backs off)
FAULT_GRACE_S = 30.0


def _events(run: RunRecord, kind: EventKind, target: str) -> list[dict[str, Any]]:
    return [e for e in run.events if e.get("kind") == kind and e.get("target") == target]


def _fault_windows(run: RunRecord, target: str) -> list[tuple[float, float]]:
    """When the run's own faults on ``target`` were on (``fault_added`` / ``fault_removed``
    naming it), each extended by ``FAULT_GRACE_S``; open ones run to the end."""
    windows: list[tuple[float, float]] = []
    opened: dict[str, float] = {}
    # a fault is applied at its phase's start and its event written once applied: a kill
    # waits there for the restart, so the death it caused comes before its fault_added
    starts = {e.get("phase"): float(e.get("t", 0.0)) for e in run.events
              if e.get("kind") == EventKind.PHASE_START}
    for e in run.events:
        if e.get("target") != target:
            continue
        key = str(e.get("toxic") or e.get("type") or "")
        if e.get("kind") == EventKind.FAULT_ADDED:
            t = float(e.get("t", 0.0))
            opened[key] = min(t, starts.get(e.get("phase"), t))
        elif e.get("kind") == EventKind.FAULT_REMOVED and key in opened:
            windows.append((opened.pop(key), float(e.get("t", 0.0)) + FAULT_GRACE_S))
    windows += [(t, float("inf")) for t in opened.values()]
    return windows


def restarts_check(run: RunRecord, target: Target) -> Check:
    """``target.restarts[<name>]`` (see the module docstring)."""
    head = CheckHead(name=f"target.restarts[{target.name}]", metric="restarts",
                     target=target.name, kind="run", category="target", threshold=0,
                     unit="restarts")
    windows = _fault_windows(run, target.name)
    deaths, caused = [], []
    for d in _events(run, EventKind.KUBE_RESTART, target.name):
        t = float(d.get("t", 0.0))
        # a pod fault of the run (kill, delete) causes deaths; an OOM kill is never its doing
        if not d.get("oom") and any(a <= t <= b for a, b in windows):
            caused.append(d)
        else:
            deaths.append(d)
    pods_events = _events(run, EventKind.KUBE_PODS, target.name)
    if deaths:
        per: dict[tuple[str, str, str], int] = {}
        for d in deaths:
            key = (str(d.get("pod")), str(d.get("container")), str(d.get("reason")))
            per[key] = per.get(key, 0) + int(d.get("count", 1))
        total = sum(per.values())
        parts = [f"pod {pod} container {container}: {reason}" + (f" x{n}" if n > 1 else "")
                 for (pod, container, reason), n in sorted(per.items())]
        first = min(float(d.get("t", 0.0)) for d in deaths)
        ooms = sum(int(d.get("count", 1)) for d in deaths if d.get("oom"))
        return head.judged(
            Verdict.FAIL, observed=float(total),
            detail=(f"{total} container restart(s) of {target.name!r} during the run "
                    f"({ooms} OOM-killed), first at t={num(first)}s: {'; '.join(parts)}. "
                    "A leak that recovered by dying is not recovered."),
            evidence={"restarts": [{"pod": p, "container": c, "reason": r, "count": n}
                                   for (p, c, r), n in sorted(per.items())],
                      "oom_kills": ooms, "t_first": first})
    if not pods_events:
        return head.judged(Verdict.ERROR, detail=(
            f"the pods of {target.name!r} were never read (no kube_pods event): whether "
            "its containers restarted is unknown."))
    gone = sorted({str(p) for e in pods_events for p in e.get("gone") or []})
    pods = sorted({str(p.get("pod")) for e in pods_events for p in e.get("pods") or []
                   if isinstance(p, dict)})
    faulted = any(e.get("target") == target.name for e in run.events
                  if e.get("kind") == EventKind.FAULT_ADDED)
    if gone and not faulted:
        return head.judged(Verdict.INCONCLUSIVE, observed=0.0, evidence={"gone": gone},
                           detail=(f"pod(s) {', '.join(gone)} of {target.name!r} went away "
                                   "during the run and no fault of the run named the target: "
                                   "a pod replaced mid-run may have died of the leak."))
    note = f" (pods replaced by the run's faults: {', '.join(gone)})" if gone else ""
    if caused:
        note += (f" ({len(caused)} restart(s) while the run's own faults on it were on: "
                 + "; ".join(f"{d.get('pod')}/{d.get('container')}: {d.get('reason')}"
                             for d in caused[:5]) + ")")
    return head.judged(Verdict.PASS, observed=0.0,
                       evidence={"pods": pods, "gone": gone, "caused_by_faults": len(caused)},
                       detail=(f"no container of {target.name!r} ({len(pods)} pod(s)) "
                               f"restarted during the run{note}."))


def _intervals(run: RunRecord, target: str, end: float) -> list[tuple[float, float, str]]:
    """Gaps of the kube: series and stretches with no ready pod: (start, end, why)."""
    out: list[tuple[float, float, str]] = []
    open_gap: tuple[float, str] | None = None
    open_unready: float | None = None
    for e in run.events:
        if e.get("target") != target:
            continue
        t = float(e.get("t", 0.0))
        if e.get("kind") == EventKind.KUBE_GAP:
            if e.get("state") == "start" and open_gap is None:
                open_gap = (t, str(e.get("reason", "")))
            elif e.get("state") == "end" and open_gap is not None:
                out.append((open_gap[0], t, open_gap[1]))
                open_gap = None
        elif e.get("kind") == EventKind.KUBE_PODS:
            ready = int(e.get("ready", 0))
            if ready == 0 and open_unready is None:
                open_unready = t
            elif ready > 0 and open_unready is not None:
                out.append((open_unready, t, "no pod ready"))
                open_unready = None
    if open_gap is not None:
        out.append((open_gap[0], end, open_gap[1]))
    if open_unready is not None:
        out.append((open_unready, end, "no pod ready"))
    return out


def _union(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def observed_check(run: RunRecord, scenario: Scenario, spans: dict[str, Span],
                   target: Target) -> Check:
    """``target.observed[<name>]`` (see the module docstring)."""
    head = CheckHead(name=f"target.observed[{target.name}]", metric="observed",
                     target=target.name, kind="run", category="run", threshold=GAP_LIMIT_S,
                     unit="s", phases=[p.name for p in scenario.phases])
    if not spans:
        return head.judged(Verdict.ERROR, detail="no phase ran: nothing was observed.")
    start = min(s.start for s in spans.values())
    end = max(s.end for s in spans.values())
    clipped, excused = [], []
    windows = _union(_fault_windows(run, target.name))
    for a, b, why in _intervals(run, target.name, end):
        a, b = max(a, start), min(b, end)
        # the run's own pod faults (a deleted pod, a killed container) make the gaps they
        # cause, up to FAULT_GRACE_S after: those are expected, listed, not held against it
        for wa, wb in windows:
            if b > a and wa <= a < wb:
                excused.append((a, min(b, wb), why))
                a = min(b, wb)
        if b > a:
            clipped.append((a, b, why))
    union = _union([(a, b) for a, b, _ in clipped])  # a gap and an unready stretch overlap
    longest = max((b - a for a, b in union), default=0.0)
    total = sum(b - a for a, b in union)
    evidence = {"gaps": [{"start": a, "end": b, "seconds": round(b - a, 3), "why": why}
                         for a, b, why in clipped[:20]],
                "gap_s": total, "longest_s": longest, "phases_s": end - start,
                "during_faults": [{"start": a, "end": b, "seconds": round(b - a, 3), "why": why}
                                  for a, b, why in excused[:20]]}
    if longest >= GAP_LIMIT_S or total > GAP_FRACTION * (end - start):
        worst = max(clipped, key=lambda g: g[1] - g[0])
        return head.judged(
            Verdict.INCONCLUSIVE, observed=longest, evidence=evidence,
            detail=(f"{target.name!r} was not observed for {num(total)}s of {num(end - start)}s "
                    f"of phases ({len(clipped)} gap(s)); the longest stretch {num(longest)}s; "
                    f"the longest gap, {num(worst[1] - worst[0])}s from t={num(worst[0])}s: "
                    f"{worst[2]}. Its kube: series cannot pass what the harness did not see."))
    tail = f" ({len(clipped)} short gap(s), {num(total)}s in all)" if clipped else ""
    if excused:
        tail += (f"; {num(sum(b - a for a, b, _ in excused))}s not observed while the run's "
                 "own faults on it were on (or within "
                 f"{num(FAULT_GRACE_S)}s after), as they meant")
    return head.judged(Verdict.PASS, observed=longest, evidence=evidence,
                       detail=f"{target.name!r}'s pods were read and ready throughout{tail}.")


def kube_checks(run: RunRecord, scenario: Scenario, spans: dict[str, Span]) -> list[Check]:
    """Both checks for every kube target of the scenario."""
    out: list[Check] = []
    for target in scenario.all_targets:
        if target.kube is None:
            continue
        out.append(restarts_check(run, target))
        out.append(observed_check(run, scenario, spans, target))
    return out
