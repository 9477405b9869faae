"""`regpipe-registry`: register, promote, list, roll back, restore and publish champion versions.

The logic is in regpipe.registry; this module only parses arguments and prints.
"""

import argparse
import json
from pathlib import Path

from regpipe import registry
from regpipe.errors import UserError, run
from regpipe.reports import report_data


def _summary(item: registry.Version) -> dict:
    """One version as list/show print it: the champion's test metrics, baseline and gate.

    A version whose committed evaluate metrics do not fit (an older pipeline's, an edited file)
    is listed with the reason instead of stopping the listing.
    """
    row = {
        "version": item.version,
        "created_at": item.created_at,
        "rev": item.rev,
        "stages": list(item.stages),
    }
    try:
        evaluation = item.evaluation
    except UserError as error:
        return row | {"champion": None, "metrics": {}, "baseline": {}, "error": str(error)}
    gate = evaluation.gate
    baseline = evaluation.models.get("baseline")
    return row | {
        "champion": evaluation.champion,
        "metrics": report_data(evaluation.models[evaluation.champion]),
        "baseline": report_data(baseline) if baseline else {},
        "gate": {
            "passed": gate.passed,
            "reasons": gate.reasons,
            "min_improvement": gate.min_improvement,
            "min_r2": gate.min_r2,
        },
    }


def _print_table(items: list[registry.Version]) -> None:
    if not items:
        print(f"no version of {registry.ARTIFACT!r} is registered")
        return
    header = f"{'version':<10} {'created_at':<25} {'rev':<8} {'stages':<12} {'model':<6} "
    print(header + f"{'rmse':>8} {'mae':>8} {'r2':>6} {'base_rmse':>9}  gate")
    for item in items:
        row = _summary(item)
        metrics, baseline = row["metrics"], row["baseline"]
        if "error" in row:
            verdict = f"UNREADABLE: {row['error']}"
        elif row["gate"]["passed"]:
            verdict = "passed"
        else:
            verdict = "FAILED: " + "; ".join(row["gate"]["reasons"])
        r2 = metrics.get("r2")
        print(
            f"{item.version:<10} {item.created_at:<25} {item.rev[:7]:<8} "
            f"{','.join(item.stages) or '-':<12} {row['champion'] or '-':<6} "
            f"{metrics.get('rmse', float('nan')):>8.3f} {metrics.get('mae', float('nan')):>8.3f} "
            f"{float('nan') if r2 is None else r2:>6.3f} "
            f"{baseline.get('rmse', float('nan')):>9.3f}  {verdict}"
        )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="regpipe-registry", description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=Path("."), help="the git/DVC repository")
    commands = parser.add_subparsers(dest="command", required=True)

    sign = argparse.ArgumentParser(add_help=False)
    sign.add_argument(
        "--sign", action="store_true", help="SSH-sign the tag (git's user.signingkey)"
    )
    register = commands.add_parser(
        "register", parents=[sign], help="tag HEAD's champion as a new version"
    )
    register.add_argument("--version", help="e.g. v1.0.0 (default: bump the latest's patch)")

    promote = commands.add_parser("promote", parents=[sign], help="assign a stage to a version")
    promote.add_argument("version")
    promote.add_argument("--stage", required=True)

    listing = commands.add_parser("list", help="every version: date, rev, metrics, gate, stages")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")

    show = commands.add_parser("show", help="one version (or a stage's) in full, as JSON")
    show_which = show.add_mutually_exclusive_group(required=True)
    show_which.add_argument("version", nargs="?")
    show_which.add_argument("--stage")

    rollback = commands.add_parser(
        "rollback", parents=[sign], help="move a stage back to the version before"
    )
    rollback.add_argument("--stage", required=True)
    rollback.add_argument("--to", metavar="VERSION", help="this version instead of the previous")

    checkout = commands.add_parser("checkout", help="restore a version's workspace or its model")
    checkout_which = checkout.add_mutually_exclusive_group(required=True)
    checkout_which.add_argument("version", nargs="?")
    checkout_which.add_argument("--stage")
    checkout.add_argument(
        "--model-only", action="store_true", help="fetch only the verified model file into -o DIR"
    )
    checkout.add_argument("-o", "--out-dir", type=Path, help="target directory for --model-only")
    checkout.add_argument(
        "--force",
        action="store_true",
        help="discard outputs that differ from dvc.lock and no cache holds",
    )

    publish = commands.add_parser(
        "publish", help="push every registered version's DVC objects, then the registry tags"
    )
    publish.add_argument("--git-remote", default="origin", help="where the tags go (origin)")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    repo = args.repo
    if args.command == "register":
        item = registry.register(repo, version=args.version, sign=args.sign)
        print(f"registered {item.tag} at {item.rev[:12]}")
        print("publish: regpipe-registry publish")
    elif args.command == "promote":
        item = registry.promote(repo, args.version, stage=args.stage, sign=args.sign)
        print(f"{args.stage}: {registry.ARTIFACT}@{item.version} ({item.rev[:12]})")
    elif args.command == "list":
        items = registry.versions(repo)
        if args.json:
            print(json.dumps([_summary(item) for item in items], indent=2))
        else:
            _print_table(items)
    elif args.command == "show":
        item = registry.find_version(repo, version=args.version, stage=args.stage)
        evaluation = report_data(item.evaluation)  # one that does not fit is refused here
        print(json.dumps(_summary(item) | {"evaluation": evaluation}, indent=2))
    elif args.command == "rollback":
        item = registry.rollback(repo, stage=args.stage, to=args.to, sign=args.sign)
        print(f"{args.stage}: rolled back to {registry.ARTIFACT}@{item.version} ({item.rev[:12]})")
    elif args.command == "checkout":
        if args.model_only:
            if args.out_dir is None:
                raise UserError("--model-only needs -o DIR, the target directory")
            ref = registry.fetch_model(
                repo, version=args.version, stage=args.stage, out_dir=args.out_dir
            )
            print(f"{ref.path}  sha256 {ref.sha256} ({registry.ARTIFACT}@{ref.version})")
        else:
            item = registry.checkout(
                repo,
                version=args.version,
                stage=args.stage,
                force=args.force,
                allowed_signers=registry.trust_root(repo),
            )
            print(
                f"workspace at {item.tag} ({item.rev[:12]}), detached "
                "HEAD; `git switch -` returns to your branch, then `dvc checkout`"
            )
    elif args.command == "publish":
        done = registry.publish(repo, git_remote=args.git_remote)
        print(
            f"published {done.versions} versions of {registry.ARTIFACT}: {done.objects} DVC "
            f"objects uploaded to {done.dvc_remote!r} ({done.dvc_url}), the rest already there; "
            f"{done.tags} registry tags on {done.git_remote!r} ({done.new_tags} new)"
        )


def cli() -> None:
    run(main)
