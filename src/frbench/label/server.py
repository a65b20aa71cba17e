"""The labelling page's server: one annotator's session over a dataset's subjects, on 127.0.0.1 only.

:class:`LabelSession` holds the state without any HTTP: the seeded order, the annotator's
answers (read from and written to their label file, :mod:`frbench.label.files`) and the subject
on screen. Every answer and every undo rewrites the file atomically before the page moves on, so
a crash or a closed tab loses at most the face on screen; a new session resumes at the first
subject in the order that the file has no answer for.

:func:`make_server` serves it: the page (``page.html``, no external asset: the Content-Security-
Policy forbids loading anything from elsewhere), ``GET /state``, ``GET /crop/<i>/<k>.jpg``,
``POST /answer`` and ``POST /undo``. It listens on 127.0.0.1 only and answers only requests whose
Host is ``127.0.0.1:<port>`` or ``localhost:<port>`` (another site cannot reach it by DNS
rebinding); POSTs must be JSON, which a page of another origin cannot send without a CORS
preflight that this server never grants.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path

import pandas as pd

from frbench.errors import DatasetError, FrbenchError
from frbench.embed.screening import MAX_PIXELS
from frbench.label.crops import face_crop_jpeg
from frbench.label.files import (
    BINARY_ANSWERS,
    LABEL_COLUMNS,
    check_annotator_name,
    label_row,
    read_label_file,
    write_label_file,
)
from frbench.tables import validate_image_table

HOST = "127.0.0.1"
CROP_SIZE = 256
_CROP_CACHE = 256
CSP = (
    "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_MAX_BODY = 4096


@dataclass(frozen=True)
class Subject:
    """A subject as the page shows it: its id and the images shown (ids and files)."""

    subject_id: str
    image_ids: tuple[str, ...]
    paths: tuple[str, ...]


class LabelSession:
    """One annotator labelling a dataset's subjects in a given order.

    Parameters
    ----------
    images : ImageTable of the dataset.
    order : every subject of ``images``, in the order to show them
        (:func:`frbench.label.order.labelling_order`).
    labels_path : the annotator's label file; read when it exists (its rows must be this
        annotator's and name subjects of the dataset), created on the first answer.
    annotator : the annotator's name.
    photos : at most this many images per subject are shown, the first by image_id.
    """

    def __init__(
        self,
        images: pd.DataFrame,
        order: Sequence[str],
        labels_path: Path,
        annotator: str,
        photos: int = 4,
        max_pixels: int = MAX_PIXELS,
    ) -> None:
        images = validate_image_table(images)
        if isinstance(photos, bool) or not isinstance(photos, int) or photos < 1:
            raise ValueError(f"photos must be an integer >= 1, got {photos!r}")
        self.annotator = check_annotator_name(annotator)
        self.labels_path = Path(labels_path)
        self.max_pixels = max_pixels
        by_subject = images.sort_values("image_id").groupby("subject_id", sort=False)
        table = {
            str(s): Subject(str(s), tuple(g["image_id"].astype(str))[:photos], tuple(g["path"].astype(str))[:photos])
            for s, g in by_subject
        }
        order = [str(s) for s in order]
        if sorted(order) != sorted(table):
            raise ValueError("order must list every subject of the images exactly once")
        self.subjects = [table[s] for s in order]
        self.position = {s.subject_id: i for i, s in enumerate(self.subjects)}
        self.rows: list[dict[str, str]] = []
        if self.labels_path.exists():
            existing = read_label_file(self.labels_path, subjects=table)
            if len(existing) and existing["annotator"].iloc[0] != self.annotator:
                raise DatasetError(
                    f"{self.labels_path}: holds the answers of {existing['annotator'].iloc[0]!r}, not {self.annotator!r}; "
                    "give each annotator a file of their own"
                )
            self.rows = existing[list(LABEL_COLUMNS)].to_dict("records")
        self.lock = threading.Lock()
        self._crops: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self.current = self._first_unanswered()

    # --- state -----------------------------------------------------------------------------

    def answered(self) -> set[str]:
        return {r["subject_id"] for r in self.rows}

    def _first_unanswered(self) -> int | None:
        done = self.answered()
        return next((i for i, s in enumerate(self.subjects) if s.subject_id not in done), None)

    def _next_after(self, index: int | None) -> int | None:
        """The subject the page will show after ``index`` is answered (for prefetching its images)."""
        done = self.answered() | ({self.subjects[index].subject_id} if index is not None else set())
        return next((i for i, s in enumerate(self.subjects) if s.subject_id not in done), None)

    def state(self) -> dict:
        """What the page shows: progress, the subject on screen (None when all are answered), its images."""
        done = len(self.answered())
        current = None
        if self.current is not None:
            s = self.subjects[self.current]
            current = {"id": s.subject_id, "index": self.current, "images": self._urls(self.current)}
        upcoming = self._next_after(self.current)
        last = self.rows[-1] if self.rows else None
        return {
            "annotator": self.annotator,
            "total": len(self.subjects),
            "done": done,
            "subject": current,
            "next_images": self._urls(upcoming) if upcoming is not None and current is not None else [],
            "last": None if last is None else {k: last[k] for k in ("subject_id", "skin_tone_binary", "monk")},
            "file": str(self.labels_path),
        }

    def _urls(self, index: int) -> list[str]:
        return [f"/crop/{index}/{k}.jpg" for k in range(len(self.subjects[index].paths))]

    # --- changes (each saved before it returns) ----------------------------------------------

    def answer(self, subject_id: str, binary: str, monk: str | int | None = None) -> dict:
        """Record an answer for the subject on screen, save the file, move to the next unanswered subject.

        Raises StaleAnswer when ``subject_id`` is not the subject on screen (another tab moved on)
        and DatasetError for an answer outside the format.
        """
        with self.lock:
            if self.current is None or self.subjects[self.current].subject_id != subject_id:
                raise StaleAnswer(f"subject {subject_id!r} is not the one on screen")
            s = self.subjects[self.current]
            row = label_row(s.subject_id, s.image_ids, self.annotator, binary, monk)
            self._save([*self.rows, row])
            self.current = self._first_unanswered()
            return self.state()

    def undo(self) -> dict:
        """Remove the last answer (rewriting the file) and show its subject again; a no-op without answers."""
        with self.lock:
            if self.rows:
                last = self.rows[-1]
                self._save(self.rows[:-1])
                self.current = self.position[last["subject_id"]]
            return self.state()

    def _save(self, rows: list[dict[str, str]]) -> None:
        write_label_file(self.labels_path, rows)
        self.rows = rows

    # --- images --------------------------------------------------------------------------------

    def crop(self, index: int, k: int) -> bytes:
        """JPEG crop of image ``k`` of the subject at ``index`` in the order; KeyError if there is none."""
        if not 0 <= index < len(self.subjects) or not 0 <= k < len(self.subjects[index].paths):
            raise KeyError((index, k))
        key = (index, k)
        with self.lock:
            if key in self._crops:
                self._crops.move_to_end(key)
                return self._crops[key]
        data = face_crop_jpeg(self.subjects[index].paths[k], CROP_SIZE, self.max_pixels)
        with self.lock:
            self._crops[key] = data
            while len(self._crops) > _CROP_CACHE:
                self._crops.popitem(last=False)
        return data


class StaleAnswer(FrbenchError):
    """An answer for a subject that is no longer on screen."""


def page_html() -> bytes:
    """The labelling page (HTML with its CSS and script inline)."""
    return resources.files("frbench.label").joinpath("page.html").read_bytes()


class LabelServer(ThreadingHTTPServer):
    """HTTP server bound to 127.0.0.1 that serves one :class:`LabelSession`."""

    daemon_threads = True

    def __init__(self, session: LabelSession, port: int = 0) -> None:
        self.session = session
        self.page = page_html()
        super().__init__((HOST, port), _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"


def make_server(session: LabelSession, port: int = 0) -> LabelServer:
    """A :class:`LabelServer` on 127.0.0.1:``port`` (0: any free port); FrbenchError when the port is taken."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise FrbenchError(f"port {port!r} must be an integer 0-65535")
    try:
        return LabelServer(session, port)
    except OSError as exc:
        raise FrbenchError(f"cannot listen on {HOST}:{port} ({exc.strerror or exc}); choose another --port") from None


class _Handler(BaseHTTPRequestHandler):
    server: LabelServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per image request would bury the command's own messages

    def _host_ok(self) -> bool:
        host = self.headers.get("Host", "")
        return host in (f"{HOST}:{self.server.port}", f"localhost:{self.server.port}")

    def _send(self, status: int, body: bytes, content_type: str, cache: str = "no-store") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cache)
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: dict) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json")

    def do_GET(self) -> None:
        if not self._host_ok():
            return self._json(HTTPStatus.FORBIDDEN, {"error": "unexpected Host header"})
        path = self.path.split("?", 1)[0]
        if path == "/":
            return self._send(HTTPStatus.OK, self.server.page, "text/html; charset=utf-8")
        if path == "/state":
            with self.server.session.lock:
                state = self.server.session.state()
            return self._json(HTTPStatus.OK, state)
        parts = path.split("/")
        if len(parts) == 4 and parts[1] == "crop" and parts[3].endswith(".jpg"):
            try:
                data = self.server.session.crop(int(parts[2]), int(parts[3][:-4]))
            except (ValueError, KeyError):
                return self._json(HTTPStatus.NOT_FOUND, {"error": "no such image"})
            return self._send(HTTPStatus.OK, data, "image/jpeg", cache="private, max-age=3600")
        return self._json(HTTPStatus.NOT_FOUND, {"error": f"no such page {path!r}"})

    def do_POST(self) -> None:
        if not self._host_ok():
            return self._json(HTTPStatus.FORBIDDEN, {"error": "unexpected Host header"})
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            return self._json(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, {"error": "send JSON"})
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 <= length <= _MAX_BODY:
            return self._json(HTTPStatus.BAD_REQUEST, {"error": "bad Content-Length"})
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            return self._json(HTTPStatus.BAD_REQUEST, {"error": "body is not JSON"})
        session = self.server.session
        try:
            if self.path == "/answer":
                if not isinstance(body, dict) or body.get("binary") not in BINARY_ANSWERS:
                    return self._json(HTTPStatus.BAD_REQUEST, {"error": f"binary must be one of {list(BINARY_ANSWERS)}"})
                state = session.answer(str(body.get("subject")), body["binary"], body.get("monk"))
            elif self.path == "/undo":
                state = session.undo()
            else:
                return self._json(HTTPStatus.NOT_FOUND, {"error": f"no such action {self.path!r}"})
        except StaleAnswer as exc:
            with session.lock:
                return self._json(HTTPStatus.CONFLICT, {"error": str(exc), "state": session.state()})
        except DatasetError as exc:
            return self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
        except OSError as exc:
            # the answer is not saved: say so on the page instead of moving on
            return self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"could not save: {exc}"})
        return self._json(HTTPStatus.OK, state)
