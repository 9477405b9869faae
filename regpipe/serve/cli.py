"""The prediction service: the registry's model over HTTP, every prediction logged for drift.

``python -m regpipe.serve serve`` starts the service under uvicorn; ``python -m regpipe.serve
predict IN OUT`` scores a file."""

import argparse
from pathlib import Path

from regpipe.params import PARAMS_FILE
from regpipe.serve.app import create_app
from regpipe.serve.batch import predict_file
from regpipe.serve.settings import load_settings


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m regpipe.serve", description=__doc__.split("\n\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="start the HTTP service")
    predict = commands.add_parser("predict", help="score a CSV/Parquet file")
    predict.add_argument("source", type=Path)
    predict.add_argument("destination", type=Path)
    for command in (serve, predict):
        command.add_argument("--params", type=Path, default=PARAMS_FILE)
        command.add_argument("--stage")
        command.add_argument("--version", dest="version")
        command.add_argument("--workspace", action="store_true", help="skip the registry")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--log-path")
    args = parser.parse_args()

    overrides = {"stage": args.stage, "version": args.version}
    if args.workspace:
        overrides["use_registry"] = False
    if args.command == "predict":
        settings = load_settings(args.params, overrides=overrides)
        version = predict_file(settings, args.source, args.destination)
        print(f"predict: {args.source} -> {args.destination} with model {version}")
        return
    import uvicorn

    overrides |= {"host": args.host, "port": args.port, "log_path": args.log_path}
    settings = load_settings(args.params, overrides=overrides)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        access_log=False,
        log_level="info",
    )
