"""The ``harness`` command: parses arguments, runs a subcommand, maps its outcome to an exit
code (a run's outcome through ``harness.verdicts.exit_code_for``, errors through their
``exit_code``; the codes themselves are in ``harness.errors``, and ``EXIT_CODES_HELP`` below
is what ``harness --help`` shows of them).

``history`` exits 0 once its report is written, whatever the runs' verdicts.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from harness import __version__
from harness._signals import STOP, install
from harness.errors import (
    EXIT_CHECK_FAILED,
    EXIT_INCONCLUSIVE,
    EXIT_INPUT,
    EXIT_OK,
    HarnessError,
    InputError,
)
from harness.text import printable

if TYPE_CHECKING:
    from harness.verdicts import Summary


DESCRIPTION = ("Soak tests for services: load through Toxiproxy faults, resource curves "
               "sampled, leaks judged, a report written.")
EXIT_CODES_HELP = """\
exit codes:
  0  every check passed
  1  a check failed (a leak, a latency or error limit), or compare found a regression
  2  invalid input: scenario, option or run folder (the message names the field); also a
     scenario whose checks can never be judged, and compare of two different scenarios
  3  the environment or a harness tool failed (toxiproxy, Locust, a port, the disk):
     the data cannot be trusted
  4  inconclusive: a check could not be judged, or the run was cut short, and nothing failed

durations: 90s, 2m30s, 1h30m, 1.5h, 500ms, 1d (at most 7 days)
docs: README.md, docs/thresholds.md, docs/run-folder.md
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"harness: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_INPUT)


def _positive(text: str) -> float:
    """A finite number > 0 (argparse type: the error names the option)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{printable(text, 40)!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{printable(text, 40)!r}: must be a finite number > 0")
    return value


def _tolerance(text: str) -> float:
    """A finite fraction >= 0 (``0.1``, or ``10%``)."""
    number = text.strip()
    try:
        value = float(number[:-1]) / 100 if number.endswith("%") else float(number)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{printable(text, 40)!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{printable(text, 40)!r}: must be a finite number >= 0")
    return value


# Environment variables behind option defaults: read (and checked, naming the variable)
# only when the command needs them, so a bad value cannot break `--version` or `--help`.
ENV_DEFAULTS = {
    "variant": ("HARNESS_VARIANT", None),
    "duration_scale": ("HARNESS_DURATION_SCALE", "1"),
    "backend": ("HARNESS_BACKEND", "local"),
    "reports_root": ("HARNESS_REPORTS", "reports"),
}
BACKENDS = ("local", "compose", "attach")


def _from_env(args: argparse.Namespace) -> None:
    """Fill options not given on the command line from their variables; InputError naming
    the variable when its value cannot be used."""
    for dest, (variable, default) in ENV_DEFAULTS.items():
        if not hasattr(args, dest) or getattr(args, dest) is not None:
            continue
        raw = os.environ.get(variable) or default
        if raw is None:
            continue
        value: object = raw
        if dest == "duration_scale":
            try:
                value = _positive(raw)
            except argparse.ArgumentTypeError as exc:
                raise InputError(f"${variable}: {exc}") from None
        elif dest == "variant" and raw not in ("leaky", "fixed"):
            raise InputError(f"${variable}: {printable(raw, 40)!r}: must be leaky or fixed")
        elif dest == "backend" and raw not in BACKENDS:
            raise InputError(f"${variable}: {printable(raw, 40)!r}: must be one of "
                             f"{', '.join(BACKENDS)}")
        elif dest == "reports_root":
            value = Path(raw)
        setattr(args, dest, value)


def out_problem(path: Path, flag: str) -> str | None:
    """Why ``path`` cannot become (or hold) an output folder, or None: it is a file, a
    parent is a file, or the nearest existing folder cannot be written."""
    from harness.runfolder import can_write_in

    if path.exists() and not path.is_dir():
        return f"{flag} {path}: is a file, not a folder"
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        return f"{flag} {path}: {existing} is a file, not a folder"
    if existing.exists() and not can_write_in(existing):
        return f"{flag} {path}: cannot write in {existing}"
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="harness", description=DESCRIPTION, epilog=EXIT_CODES_HELP,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"harness {__version__}",
                        help="print the harness version and exit")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser,
                                title="commands", metavar="COMMAND")

    def scenario_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("scenario", help="scenario file, or a name in scenarios/")
        p.add_argument("--variant", choices=("leaky", "fixed"), default=None,
                       help="sample variant for every sample target [$HARNESS_VARIANT]")
        p.add_argument("--duration-scale", type=_positive, default=None,
                       help="multiply every phase duration [$HARNESS_DURATION_SCALE]")
        p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                       help="override a scenario field, e.g. load.users=20 or phases[1].duration=30s")
        p.add_argument("--backend", default=None, choices=BACKENDS,
                       help="where the targets run; local: their files are checked "
                            "[$HARNESS_BACKEND]")
        p.add_argument("--allow-unjudgeable", action="store_true",
                       help="accept a scenario with checks that can never be judged (too "
                            "few samples after settle): they end INCONCLUSIVE (exit 4) "
                            "instead of the scenario being refused (exit 2)")

    run = sub.add_parser("run", help="run a scenario and write its report",
                         description="Run a scenario and write its run folder and report. "
                                     "Also appends a summary to $GITHUB_STEP_SUMMARY when set.",
                         epilog=EXIT_CODES_HELP,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    scenario_args(run)
    run.add_argument("--out", type=Path, default=None,
                     help="run folder (default reports/<scenario>-<UTC timestamp>/)")
    run.add_argument("--reports-root", type=Path, default=None,
                     help="where run folders go [$HARNESS_REPORTS]")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    run.add_argument("--target-version", default=None, metavar="VERSION",
                     help="the target's version or commit, recorded for `harness history` "
                          "[$HARNESS_TARGET_VERSION; in CI $GITHUB_SHA or $CI_COMMIT_SHA]")

    validate = sub.add_parser(
        "validate", help="validate a scenario and plan its checks; start nothing",
        description="Validate a scenario (with --set and --duration-scale applied) and count "
                    "the samples each check will judge; exit 2 naming every bad field and "
                    "every check that can never be judged.")
    scenario_args(validate)

    sub.add_parser("list", help="list scenarios and samples",
                   description="List the bundled samples and the scenarios in scenarios/.")

    report = sub.add_parser("report", help="(re)write the report of a run folder",
                            description="(Re)write report.html, report.md, junit.xml and "
                                        "summary.json from a run folder's data (also of a "
                                        "killed run). Appends to $GITHUB_STEP_SUMMARY when set.")
    report.add_argument("run_dir", type=Path, metavar="RUN_DIR",
                        help="a run folder written by `harness run`")

    compare = sub.add_parser(
        "compare", help="compare a candidate run against a baseline",
        description="Compare each check of a candidate run against the same check of a "
                    "baseline run of the same scenario. A delta is relative to the "
                    "baseline's value: +25%% means the candidate is 1.25x the baseline.")
    compare.add_argument("baseline", type=Path, metavar="BASELINE_RUN",
                         help="run folder of the reference run (e.g. the last release)")
    compare.add_argument("candidate", type=Path, metavar="CANDIDATE_RUN",
                         help="run folder of the run under review")
    compare.add_argument("--allow-different", action="store_true",
                         help="compare runs of different scenarios (refused by default, "
                              "exit 2: their checks do not measure the same thing)")
    compare.add_argument("--tolerance", type=_tolerance, default=0.10,
                         help="relative worsening allowed before it counts as a regression "
                              "(0.1 or 10%%)")
    compare.add_argument("--out", type=Path, default=None,
                         help="where compare.html/.md go (default: the candidate's folder)")

    history = sub.add_parser(
        "history", help="one stability report across many run folders (nightly soaks)")
    history.add_argument("paths", nargs="+", metavar="RUN_DIR",
                         help="run folders, folders of run folders, or glob patterns")
    history.add_argument("--out", type=Path, default=None,
                         help="report folder, new or empty (default "
                              "<reports root>/history-<UTC timestamp>/)")
    history.add_argument("--reports-root", type=Path, default=None,
                         help="where the default report folder goes [$HARNESS_REPORTS]")

    fetch = sub.add_parser(
        "fetch", help="copy a run folder out of the Helm chart's reports volume (kubectl)",
        description="Copy a run folder (the newest, or --run NAME) from a Helm release's "
                    "reports claim to this machine, through a short-lived read-only reader "
                    "pod (the release's image and security contexts; deleted on every exit "
                    "path), and check that its summary.json parses. Needs kubectl on PATH "
                    "pointed at the cluster. Exits 0 once copied, whatever the run's verdict.")
    fetch.add_argument("release", nargs="?", default=None, metavar="RELEASE",
                       help="the Helm release (default: the only one in the namespace)")
    fetch.add_argument("-n", "--namespace", default=None,
                       help="its namespace (default: kubectl's current one)")
    fetch.add_argument("--context", default=None, help="kubectl context")
    fetch.add_argument("--run", default=None, metavar="NAME",
                       help="the run folder's name (default: the newest by start time)")
    fetch.add_argument("--out", type=Path, default=None,
                       help="where it goes, new or empty (default ./<run folder name>; "
                            "with --junit-only ./junit.xml)")
    fetch.add_argument("--junit-only", action="store_true",
                       help="copy only the run's junit.xml (checked to be XML)")
    fetch.add_argument("--timeout", type=_positive, default=120.0,
                       help="seconds to wait for the reader pod (default 120)")

    sub.add_parser("setup", help="find or install toxiproxy-server (and build the Go sample)",
                   description="Find toxiproxy-server ($HARNESS_TOOLS_DIR, PATH) or install "
                               "the pinned version; build the Go sample when Go is found.")
    return parser


def _load(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The scenario, validated, with every file it names checked (targets' only if local)."""
    from harness.errors import ScenarioError
    from harness.scenario import load_scenario, path_problems

    scenario = load_scenario(args.scenario, variant=args.variant, sets=args.sets,
                             duration_scale=args.duration_scale)
    problems = path_problems(scenario, targets=args.backend == "local")
    from harness.backends import pod_fault_problems

    problems += pod_fault_problems(args.backend, scenario)
    if problems:
        raise ScenarioError(args.scenario, problems)
    from harness.analysis import unjudgeable

    never = unjudgeable(scenario)
    if never and not args.allow_unjudgeable:
        raise ScenarioError(args.scenario, [
            *never, "(these checks could never be judged; --allow-unjudgeable runs the "
                    "scenario anyway, and they end INCONCLUSIVE)"])
    for line in never:
        _say(f"warning: {line} (allowed: it will be INCONCLUSIVE)")
    return scenario


def cmd_validate(args: argparse.Namespace) -> int:
    scenario = _load(args)
    targets = ", ".join(f"{t.name}({t.what})" for t in scenario.all_targets)
    print(printable(f"{args.scenario}: ok — {scenario.name}"
                    f"{' [' + scenario.variant + ']' if scenario.variant else ''}: "
                    f"{len(scenario.phases)} phases, {scenario.duration:g}s, targets {targets}, "
                    f"{len(scenario.thresholds)} thresholds"))
    from harness.analysis import plan_checks

    for planned in plan_checks(scenario):
        mark = "NEVER JUDGED" if planned.problem else "ok"
        print(printable(f"  {planned.threshold} {planned.check}: {planned.samples} samples in "
                        f"{', '.join(planned.phases)} (need >= {planned.need}): {mark}"))
    return EXIT_OK


def _step_summary(summary: Summary, run_dir: Path) -> None:
    """Append the short summary to $GITHUB_STEP_SUMMARY when CI set it (GitHub Actions;
    any file path works). A file that cannot be written is said, not fatal: the run's
    verdict and exit code stand."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return
    from harness.report import step_summary

    try:
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(step_summary(summary, run_dir))
    except OSError as exc:
        _say(f"$GITHUB_STEP_SUMMARY {target}: cannot append ({exc.strerror or exc})")


def _say(text: str) -> None:
    print(f"harness: {printable(text)}", file=sys.stderr)


def _print_summary(summary: Summary, title: str) -> None:
    from harness.verdicts import verdict_label

    failed = [c for c in summary.failed_checks if c.category != "tool"]
    undecided = [c for c in summary.undecided_checks if c.category != "tool"]
    tools = [c for c in [*summary.failed_checks, *summary.undecided_checks]
             if c.category == "tool"]
    print(f"{verdict_label(summary)}: {printable(title, newlines=False)} "
          f"({summary.status}, {len(summary.checks)} checks, {len(failed)} failed"
          + (f", {len(undecided)} inconclusive" if undecided else "") + ")")
    if summary.reason:
        print(f"  {printable(summary.reason.splitlines()[0] if summary.reason.strip() else '')}")
    for check in failed:
        print(f"  FAIL {printable(check.name)}: {printable(check.detail)}")
    for check in undecided:
        print(f"  INCONCLUSIVE {printable(check.name)}: {printable(check.detail)}")
    for check in tools:
        print(f"  TOOL {printable(check.name)}: {printable(check.detail)} "
              "(a harness tool problem; not the target's)")


def _announce_report(run_dir: Path) -> None:
    """Name the report only when it is there (written atomically: there means whole)."""
    report = run_dir / "report.html"
    if report.is_file():
        print(f"report: {report}")


def cmd_run(args: argparse.Namespace) -> int:
    from harness._finish import ReportNotWritten
    from harness._recover import recover_runs
    from harness.provenance import provenance
    from harness.run import RunOptions, run_scenario
    from harness.verdicts import exit_code_for

    scenario = _load(args)
    problem = (out_problem(args.out, "--out") if args.out is not None
               else out_problem(args.reports_root, "--reports-root"))
    if problem:
        raise InputError(problem)
    roots = {args.reports_root.resolve()}
    if args.out is not None:
        roots.add(args.out.resolve().parent)
    for root in sorted(roots):  # runs whose harness was killed: clean up, finish their reports
        recover_runs(root, log=_say)
    from harness.backends import sweep_netns

    for name in sweep_netns():  # what a killed run left of its network namespaces
        _say(f"removed network namespace {name} (and its veth) left by a killed run")
    origin = provenance(args.target_version, args.backend)
    title = f"{scenario.name}{' [' + scenario.variant + ']' if scenario.variant else ''}"
    try:
        outcome = run_scenario(scenario, RunOptions(out=args.out, backend=args.backend,
                                                    reports_root=args.reports_root,
                                                    quiet=args.quiet, provenance=origin),
                               stop=STOP)
    except ReportNotWritten as exc:
        _print_summary(exc.summary, title)
        raise
    args.exit_code = exit_code_for(outcome.summary)  # kept if stdout is a closed pipe
    _step_summary(outcome.summary, outcome.run_dir)
    _print_summary(outcome.summary, title)
    _announce_report(outcome.run_dir)
    return int(args.exit_code)


def cmd_report(args: argparse.Namespace) -> int:
    from harness._finish import finish
    from harness._recover import orphaned, recover
    from harness.errors import RunDirError
    from harness.report import report_problems
    from harness.verdicts import exit_code_for, verdict_label

    problems = report_problems(args.run_dir)
    if problems:
        raise RunDirError("\n".join(problems))
    manifest = orphaned(args.run_dir)
    if manifest is not None:  # its harness was killed: clean up after it first
        summary, killed = recover(args.run_dir, manifest)
        _say(f"the harness of {args.run_dir} was killed; {killed} leftover process(es) killed")
    else:
        summary = finish(args.run_dir)
    args.exit_code = exit_code_for(summary)
    _step_summary(summary, args.run_dir)
    print(f"{verdict_label(summary)}: {printable(summary.scenario)} ({summary.status})")
    _announce_report(args.run_dir)
    return int(args.exit_code)


def cmd_compare(args: argparse.Namespace) -> int:
    from harness.errors import RunDirError
    from harness.report import RELATIVE_NOTE, compare_runs

    for path in (args.baseline, args.candidate):
        if not path.is_dir():
            raise RunDirError(f"{path}: not a directory")
        if not (path / "summary.json").exists():
            raise RunDirError(f"{path}: no summary.json; run `harness report {path}` first")
    problem = out_problem(args.out or args.candidate, "--out")
    if problem:
        raise RunDirError(problem)
    result = compare_runs(args.baseline, args.candidate, args.out or args.candidate,
                          tolerance=args.tolerance, allow_different=args.allow_different)
    args.exit_code = EXIT_CHECK_FAILED if result.regressed else EXIT_OK
    print(("REGRESSED" if result.regressed else "OK") + f": {args.candidate} vs {args.baseline}"
          f" (tolerance {args.tolerance * 100:.0f}%)")
    for row in result.rows:
        if row.regressed:
            change = "" if row.relative is None else f" ({row.relative * 100:+.1f}%)"
            print(printable(f"  REGRESSED {row.name}{change}: {row.note}"))
    print(f"  {RELATIVE_NOTE}")
    for path in result.paths:
        print(f"  {path}")
    return int(args.exit_code)


def _history_out(args: argparse.Namespace) -> Path:
    """The report folder: --out if new or empty (exit 2 otherwise), else a fresh
    history-<UTC stamp> folder under the reports root."""
    import time

    if args.out is not None:
        problem = out_problem(args.out, "--out")
        if problem:
            raise InputError(problem)
        if args.out.is_dir() and any(args.out.iterdir()):
            raise InputError(f"--out {args.out}: exists and is not empty; not overwriting it")
        return Path(args.out)
    problem = out_problem(args.reports_root, "--reports-root")
    if problem:
        raise InputError(problem)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path, n = args.reports_root / f"history-{stamp}", 1
    while path.exists():
        n += 1
        path = args.reports_root / f"history-{stamp}-{n}"
    return Path(path)


def cmd_history(args: argparse.Namespace) -> int:
    from harness.report import collect_history, write_history

    out = _history_out(args)
    history = collect_history(args.paths)
    if not history.scenarios and not any(r.state == "damaged" for r in history.unreadable):
        missing = "; ".join(f"{r.path}: {r.note}" for r in history.unreadable[:5])
        raise InputError(f"no run folders found ({printable(missing)})")
    paths = write_history(history, out)
    runs = sum(len(s.runs) for s in history.scenarios)
    print(f"history: {runs} runs of {len(history.scenarios)} scenario(s), "
          f"{len(history.unreadable)} damaged or missing folder(s), "
          f"{len(history.partial)} old schema")
    for scn in history.scenarios:
        for check in scn.checks:
            since = check.failing_since
            if since is not None and check.category != "tool":
                run = scn.runs[since]
                print(printable(f"  FAILING {scn.key} {check.name} since {run.path.name}"
                                + (f" ({run.target_version})" if run.target_version else ""),
                                newlines=False))
    print(f"report: {paths[2] if len(paths) > 2 else out}")
    return EXIT_OK


def cmd_list(_: argparse.Namespace) -> int:
    from harness.samples import SAMPLES
    from harness.scenario import SCENARIO_DIRS

    print("samples:")
    for sample in sorted(SAMPLES.values(), key=lambda s: s.name):
        variants = "/".join(sample.variants) or "-"
        print(f"  {sample.name:<20} {sample.language:<7} {variants:<12} {sample.summary}")
        if sample.patterns:
            print(f"  {'':<20} patterns: {', '.join(sample.patterns)}")
        if sample.scenarios:
            print(f"  {'':<20} scenarios: {', '.join(sample.scenarios)}")
    print("scenarios:")
    seen: set[str] = set()
    from harness.scenario import YamlLimitError, load_yaml, read_capped

    for folder in SCENARIO_DIRS:
        # examples/<server>/<server>.yaml: real third-party servers (docs/examples.md)
        found = [*sorted(folder.glob("*.yaml")), *sorted(folder.glob("examples/*/*.yaml"))]
        for path in found if folder.is_dir() else []:
            name = path.relative_to(folder).with_suffix("").as_posix()
            if name in seen:
                continue
            seen.add(name)
            try:
                raw = load_yaml(read_capped(path))
                desc = " ".join(str(raw.get("description", "")).split()) if isinstance(
                    raw, dict) else "(not a mapping)"
            except (OSError, YamlLimitError):
                desc = "(unreadable)"
            if len(desc) > 90:
                desc = desc[:90].rsplit(" ", 1)[0] + " ..."
            print(f"  {printable(name, newlines=False):<20} {printable(desc)}")
    return EXIT_OK


def cmd_fetch(args: argparse.Namespace) -> int:
    from harness.fetch import current_namespace, fetch

    namespace = args.namespace or current_namespace(args.context)
    got = fetch(args.release, namespace, run=args.run, out=args.out,
                junit_only=args.junit_only, context=args.context,
                ready_timeout=args.timeout, log=_say)
    what = "junit.xml of " if args.junit_only else ""
    print(printable(f"fetched {what}{got.run} ({got.verdict}) from claim {got.claim} "
                    f"(release {got.release}, namespace {namespace}) to {got.path}"))
    if not args.junit_only:
        _announce_report(got.path)
    return EXIT_OK


def cmd_setup(_: argparse.Namespace) -> int:
    from harness.tools import build_go_sample, go_version, install_toxiproxy

    tool = install_toxiproxy()
    print(f"toxiproxy-server: {tool.path} ({tool.version}; {tool.source})")
    if go_version() is not None:
        print(f"go sample: {build_go_sample()}")
    else:
        print("go sample: skipped (no Go found; the go_leaks scenario needs it)")
    return EXIT_OK


COMMANDS = {"run": cmd_run, "validate": cmd_validate, "list": cmd_list, "report": cmd_report,
            "compare": cmd_compare, "history": cmd_history, "setup": cmd_setup,
            "fetch": cmd_fetch}


def main(argv: Sequence[str] | None = None) -> int:
    install()  # first: from here on SIGINT/SIGTERM/SIGHUP are requests, never a bare death
    args = argparse.Namespace()
    try:
        args = build_parser().parse_args(argv)
        if args.command not in ("run", "report"):  # nothing to finish: stop where they are
            STOP.interruptible()
        _from_env(args)
        return COMMANDS[args.command](args)
    except HarnessError as exc:
        _say(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        _say(f"interrupted by {STOP.signal_name or 'SIGINT'}")
        return EXIT_INCONCLUSIVE
    except BrokenPipeError:
        return _closed_pipe(args)


def _closed_pipe(args: argparse.Namespace) -> int:
    """stdout was closed by its reader (``harness list | head -1``): end quietly, the
    standard way (Python docs, "Note on SIGPIPE"): point stdout at /dev/null so the
    interpreter's final flush cannot fail again. The command's own outcome stands (a run's
    verdict is decided before it is printed); a command that only prints exits 0."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout has no descriptor: nothing left to flush into
        pass
    finally:
        os.close(devnull)
    return int(getattr(args, "exit_code", EXIT_OK))


if __name__ == "__main__":
    sys.exit(main())
