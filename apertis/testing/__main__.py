"""`python -m apertis.testing`: run the offline Apertis-compatible server until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import List, Optional

from ._faults import EXAMPLES, FaultError

_FAULT_HELP = "\n".join(
    [
        "Faults (--fault, or the x-fake-fault request header): items joined by ';', for example",
        *(f"  {fault:<44} {meaning}" for fault, meaning in EXAMPLES),
        "Attempts are counted per Idempotency-Key (a call's retries count together), else across all requests.",
    ]
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m apertis.testing",
        description="Serve the Apertis API offline on 127.0.0.1 with deterministic answers, for demos and tests.",
        epilog=_FAULT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default: 127.0.0.1)")
    parser.add_argument(
        "--fault", action="append", default=[], metavar="SPEC", help="a fault applied to every request (repeatable)"
    )
    parser.add_argument("--api-key", default=None, help="accept only this key (default: any non-empty key)")
    parser.add_argument("--spec", default=None, help="an OpenAPI file to speak instead of the packaged one")
    parser.add_argument("--no-validate", action="store_true", help="do not check requests against the spec")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Run the server in the foreground; returns the exit status."""
    args = _parser().parse_args(argv)
    from ._server import FakeApertis

    try:
        server = FakeApertis(
            host=args.host,
            port=args.port,
            faults=args.fault,
            api_key=args.api_key,
            spec=args.spec,
            validate_requests=not args.no_validate,
        )
        server.start()
    except (FaultError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        print(f"Apertis offline server listening on {server.url}", flush=True)
        print(f"  export APERTIS_BASE_URL={server.url} APERTIS_API_KEY={args.api_key or 'test'}", flush=True)
        for fault in server.faults:
            print(f"  fault: {fault.source}", flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        print("Stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
