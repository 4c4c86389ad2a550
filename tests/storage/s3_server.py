"""moto's S3-compatible server on 127.0.0.1 (a free port), for the storage tests: prints the
port on its first line and serves until stdin closes or SIGTERM."""

import signal
import sys

from moto.server import ThreadedMotoServer


def main() -> None:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    print(server.get_host_and_port()[1], flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        sys.stdin.read()  # the test process closes it (or dies): stop
    finally:
        server.stop()


if __name__ == "__main__":
    main()
