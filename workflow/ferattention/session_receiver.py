"""A minimal receiver for the browser experiment's POSTs (``experiment.post_url``).

Standard library only, so that it runs on any server with Python 3.9+ (copy this one file, or use
``python -m ferattention.experiment receive``)::

    python session_receiver.py --dir sessions/ --host 0.0.0.0 --port 8080

The page POSTs its whole session, as JSON (the content of ``<id>_session.json``), after every
trial and at the end. Each POST replaces the stored copy of that session in ``--dir`` as
``<participant_id>_session.json``, written atomically (a temporary file renamed into place, so a
crash never leaves half a file), and only by a copy with at least as many trials (a late retry
cannot undo a newer state). Another session under the same participant id (a different
``started`` time) is stored beside it as ``<participant_id>_session-2.json`` and so on: nothing is
overwritten, and ``combine`` then names both. Answers: 204 when stored; 400 (not a session),
411/413 (no or too large ``Content-Length``). Cross-origin pages are allowed by CORS
(``--allow-origin``, default ``*``). Serve it behind HTTPS (a reverse proxy) when online.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FORMAT = "ferattention-session"
#: Largest accepted body (bytes): a session of a few hundred trials is well below 1 MB.
MAX_BYTES = 8 * 1024 * 1024
ID_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")

_lock = threading.Lock()


class BadSession(ValueError):
    """The body is not a session of the experiment."""


def parse_session(body: bytes) -> dict[str, Any]:
    """The session in a POST body; :class:`BadSession` says why it is not one."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BadSession(f"not JSON: {err}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise BadSession(f'not a session: no "format": "{FORMAT}"')
    pid = data.get("participant_id")
    if not isinstance(pid, str) or not ID_PATTERN.fullmatch(pid) or pid in (".", ".."):
        raise BadSession(f"participant_id {pid!r} is not 1 to 64 letters, digits, '.', '-', '_'")
    if not isinstance(data.get("trials"), list) or not isinstance(data.get("clicks"), list):
        raise BadSession("a session has lists 'trials' and 'clicks'")
    return data


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def save_session(body: bytes, folder: str | os.PathLike) -> Path:
    """Store the session of a POST body in ``folder``; return the file it is in (see above)."""
    data = parse_session(body)
    folder = Path(folder)
    pid = data["participant_id"]
    with _lock:
        target = None
        for number in range(1, 1000):
            name = f"{pid}_session.json" if number == 1 else f"{pid}_session-{number}.json"
            path = folder / name
            stored = _read(path) if path.exists() else None
            if stored is None and path.exists():
                continue   # an unreadable file is never overwritten
            if stored is None or (stored.get("started") == data.get("started")
                                  and stored.get("experiment_id") == data.get("experiment_id")):
                target = path
                break
        if target is None:
            raise BadSession(f"too many sessions of participant {pid!r}")
        if stored is not None and len(stored.get("trials", [])) > len(data["trials"]):
            return target   # a late copy of an older state
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=folder)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return target


def make_server(folder: str | os.PathLike, host: str = "127.0.0.1", port: int = 8080,
                allow_origin: str = "*", quiet: bool = False) -> ThreadingHTTPServer:
    """A server (not yet serving: call ``serve_forever``) that stores POSTed sessions."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)

    class Handler(BaseHTTPRequestHandler):
        server_version = "ferattention-receiver"

        def _answer(self, status: int, message: str = "") -> None:
            body = message.encode("utf-8")
            self.send_response(status)
            self.send_header("Access-Control-Allow-Origin", allow_origin)
            self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
            self.send_header("Access-Control-Allow-Headers", "Content-Type")
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)

        def do_OPTIONS(self) -> None:  # noqa: N802 (http.server's naming): CORS preflight
            self._answer(204)

        def do_POST(self) -> None:  # noqa: N802
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                self._answer(411, "Content-Length required\n")
                return
            if int(length) > MAX_BYTES:
                self._answer(413, f"larger than {MAX_BYTES} bytes\n")
                self.close_connection = True
                return
            try:
                path = save_session(self.rfile.read(int(length)), folder)
            except BadSession as err:
                self._answer(400, f"{err}\n")
                return
            self.log_message("stored %s", path.name)
            self._answer(204)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            if not quiet:
                super().log_message(format, *args)

    return ThreadingHTTPServer((host, port), Handler)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", required=True, help="folder for the sessions")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; 0.0.0.0: all)")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--allow-origin", default="*",
                        help="CORS origin allowed to POST (the experiment's host), default *")


def run(args: argparse.Namespace) -> int:
    server = make_server(args.dir, args.host, args.port, args.allow_origin)
    print(f"storing POSTed sessions in {args.dir}; listening on "
          f"http://{args.host}:{server.server_address[1]}/ (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
