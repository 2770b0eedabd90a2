"""`grader review`: the manual points (plots, REPORT.md) graded in the browser, one page per submission.

A Flask app served by waitress on 127.0.0.1 only, at a random free port, every address under a
random token (`http://127.0.0.1:PORT/TOKEN/`): a request without the token, or for another host
name (DNS rebinding), is refused with 403. Waitress rather than Flask's built-in server: that one is
documented as a development server (not meant to be relied on, one warning line per start), while
waitress is a maintained production WSGI server in pure Python that binds port 0 and reports the
port it got, with a thread pool so that two tabs are served at once.

The app is a view of the output folder of `grader grade` (see grader.outputs.snapshot): it never
runs submission code and never reads the submissions. A save goes through grader.outputs.manual
(the CSV is the one record of manual points) under that module's lock, then re-renders through
grader.outputs.report every output that shows manual points: grades.csv, results.csv, report.html,
the submission's feedback page, and the gradebook's grades (updated in place).

Two tabs: the form carries the values it was loaded with. A save writes only the fields this tab
changed (so two tabs editing different fields both keep their edit, and on the same field the last
save wins) and says which fields another tab changed. The page also polls the current values and
shows a notice when another tab saved in the meantime.

Every page sends a strict Content-Security-Policy: scripts and styles only from the app itself
(review.js, review.css: no inline script or style), images only as data: URIs (the re-encoded plots).
REPORT.md is rendered by grader.outputs.markdown (raw HTML off, links inert); every other text is
escaped by Jinja2's autoescape.
"""

from __future__ import annotations

import csv
import json
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path

from flask import Blueprint, Flask, abort, flash, get_flashed_messages, jsonify, redirect, render_template, request
from flask import send_from_directory, url_for

from grader.outputs import manual as manual_points
from grader.outputs import gradebook, report, snapshot
from grader.outputs.markdown import render_markdown
from grader.outputs.view import check_template
from grader.sandbox.error import InputError

HERE = Path(__file__).resolve().parent
TEMPLATE = "review.html.j2"
ASSETS = ("review.css", "review.js")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src data:; connect-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")  # fmt: skip
FIELDS = (*manual_points.PARTS, "comment")
MOODLE_STALE = ("moodle/grades-upload.csv and moodle/feedback-files.zip are STALE: manual points or comments were "
                "saved in review after they were written, and {why}. Run the same `grader grade ... --worksheet ...` "
                "command again (results are kept: seconds) before uploading them to Moodle.")  # fmt: skip
MOODLE_WRITTEN = "moodle/ upload files written again"
MAX_FLAGS, FLAG_CHARS = 20, 300  # similarity hints shown per submission, characters each


class ReviewError(InputError):
    """The output folder cannot be reviewed (the message says what to do)."""


@dataclass
class Saved:
    """What one save did, for the page of the tab that made it (never kept on the shared Desk: two tabs save at once)."""

    errors: list[str]  # nothing was written when there is one
    notices: list[str] = field(default_factory=list)  # what other tabs changed; Moodle's warnings about the upload
    moodle: str = ""  # what became of moodle/: MOODLE_WRITTEN, or why it is stale ("" when there is no moodle/)


class Desk:
    """The app's access to the output folder: the snapshot (re-read when `grader grade` rewrites it), the CSV, saves."""

    def __init__(self, out: Path, manual_path: Path):
        self.out, self.manual_path = Path(out), Path(manual_path)
        self.lock = threading.Lock()  # with manual.locked (other processes): one save at a time
        self._snapshot, self._stamp = None, None
        try:
            self.snapshot()
        except snapshot.SnapshotError as error:
            raise ReviewError(str(error)) from None

    def snapshot(self) -> snapshot.Snapshot:
        stamp = snapshot.stamp(self.out)
        if self._snapshot is None or stamp != self._stamp:
            self._snapshot, self._stamp = snapshot.read_snapshot(self.out), stamp
        return self._snapshot

    def manual(self) -> manual_points.Manual:
        return manual_points.read_manual(self.manual_path, {s.id for s in self.snapshot().submissions})

    def values(self, sid: str, manual: manual_points.Manual) -> dict[str, str]:
        """The form's fields as text, as stored now."""
        got = manual.of(sid)
        return {**{p: manual_points.format_points(got[p]) for p in manual_points.PARTS}, "comment": manual.comments.get(sid, "")}

    def similarity(self) -> dict[str, list[str]]:
        """<out>/similarity.json's one-line hints per submission (untrusted text, capped), or {}."""
        try:
            flags = json.loads((self.out / "similarity.json").read_text(encoding="utf-8")).get("flags", {})
        except (OSError, ValueError, AttributeError):
            return {}
        if not isinstance(flags, dict):
            return {}
        return {str(k): [str(line)[:FLAG_CHARS] for line in v[:MAX_FLAGS]] for k, v in flags.items() if isinstance(v, list)}

    def save(self, sid: str, typed: dict[str, str], loaded: dict[str, str]) -> Saved:
        """Save this tab's changed fields and write every output that shows them; nothing is written on an error."""
        typed = {f: _tidy(typed.get(f, "")) for f in FIELDS}
        loaded = {f: _tidy(loaded.get(f, "")) for f in FIELDS}
        errors = []
        for part in manual_points.PARTS:
            value, problem = manual_points.check_points(part, typed[part])
            if problem:
                errors.append(f"{part}: {problem}; nothing was saved")
            typed[part] = manual_points.format_points(value)
            loaded[part] = manual_points.format_points(manual_points.check_points(part, loaded[part])[0])
        if len(typed["comment"]) > manual_points.MAX_COMMENT:
            errors.append(f"comment: {len(typed['comment'])} characters, at most {manual_points.MAX_COMMENT}; nothing was saved")
        if errors:
            return Saved(errors)
        snap = self.snapshot()
        if snap.broken:  # a save rewrites grades.csv and the report from the snapshot: they would lose those rows
            return Saved([f"nothing was saved: {len(snap.broken)} entr{'y' if len(snap.broken) == 1 else 'ies'} of the "
                          f"review snapshot cannot be read ({', '.join(sorted(snap.broken))}), and saving would drop them "
                          f"from grades.csv and the report; run `grader grade --out {self.out}` again"])
        sub = next(s for s in snap.submissions if s.id == sid)
        with self.lock, manual_points.locked(self.manual_path):
            now = self.values(sid, self.manual())
            cells, notices = {}, []
            for field in FIELDS:
                if typed[field] != loaded[field]:  # this tab changed it: the last save wins
                    cells[field if field == "comment" else f"{field}_points"] = typed[field]
                    if now[field] != loaded[field]:
                        notices.append(f"{field}: another tab had saved {_shown(now[field])}; replaced by yours, {_shown(typed[field])}")
                elif now[field] != loaded[field]:
                    notices.append(f"{field}: another tab saved {_shown(now[field])} meanwhile; kept")
            if cells:
                try:
                    manual_points.save_points(self.manual_path, sid, sub.members, cells)
                except (OSError, UnicodeDecodeError, csv.Error) as error:
                    return Saved([f"{self.manual_path} could not be updated ({error}); nothing was saved"])
            inputs, stale = None, ""
            if self.moodle_files():
                try:
                    inputs = snapshot.read_moodle_inputs(self.out, snap.moodle)
                except snapshot.SnapshotError as error:  # never moodle/ from inputs that are not this snapshot's
                    stale = MOODLE_STALE.format(why=error)
                if inputs is None and not stale:
                    stale = MOODLE_STALE.format(why="the last `grader grade` here had no --worksheet")

            def write_scored(stale: str):  # every output that shows manual points; the report says when moodle/ is stale
                return report.write_scored(self.out, submissions=snap.submissions, results=snap.results, key=snap.key,
                                           views=snap.views, manual=self.manual(), notes=[*filter(None, [stale]), *snap.notes],
                                           banner=snap.banner, course_id=snap.course_id, only=sid, absent=snap.absent)  # fmt: skip

            written = write_scored(stale)
            if inputs is None:
                return Saved([], notices, stale)
            problems, stale = self.write_moodle(inputs, written, snap)
            if stale:  # moodle/ could not be written again: the report written just now must say so too
                write_scored(stale)
        return Saved([], notices + problems, stale or MOODLE_WRITTEN)

    def write_moodle(self, inputs: snapshot.MoodleInputs, written, snap: snapshot.Snapshot) -> tuple[list[str], str]:
        """moodle/ written again from the kept worksheet, as `grader grade` writes it: (its warnings, e.g. Moodle will
        skip rows an upload from the same worksheet already set; "", or why it could not be written and is stale)."""
        from grader.outputs import moodle, worksheet

        try:
            sheet = worksheet.read_worksheet(inputs.worksheet, inputs.columns)
            sheet.team_folders = dict(inputs.team_folders)  # what match_class found when the class was graded
            _, problems = moodle.write_class(self.out, sheet, written, snap.results, snap.key, self.manual().comments,
                                             inputs.missing_zero, inputs.upload_pending)  # fmt: skip
        except (OSError, worksheet.WorksheetError) as error:
            return [], MOODLE_STALE.format(why=f"writing them again failed ({error})")
        return [f"moodle/: {problem}" for problem in problems], ""

    def moodle_files(self) -> bool:
        """Did `grader grade --worksheet` write Moodle files here (which a save leaves stale)?"""
        return (self.out / "moodle" / "grades-upload.csv").is_file()


def create_app(desk: Desk, token: str) -> Flask:
    app = Flask(__name__, static_folder=None, template_folder=str(HERE))
    app.jinja_options = dict(app.jinja_options, autoescape=True, trim_blocks=True, lstrip_blocks=True)
    app.jinja_env.filters["markdown"] = render_markdown
    check_template(app.jinja_env, TEMPLATE)  # a field the page reads and the view lacks fails here, not at render
    app.secret_key = secrets.token_bytes(32)  # signs the flash cookie only
    # Cookies are shared by every port of 127.0.0.1: a name of its own, so another local app's is left alone.
    app.config.update(SESSION_COOKIE_NAME=f"grader-review-{secrets.token_hex(4)}", SESSION_COOKIE_SAMESITE="Strict")
    app.config["REVIEW_HOSTS"] = None  # {"127.0.0.1:PORT", "localhost:PORT"} once the server has its port
    pages = Blueprint("review", __name__, url_prefix=f"/{token}")

    @app.before_request
    def refuse_strangers():
        first = request.path.split("/")[1] if request.path.count("/") >= 1 else ""
        if not secrets.compare_digest(first.encode(), token.encode()):
            abort(403, "this address needs the token that `grader review` printed")
        hosts = app.config["REVIEW_HOSTS"]
        if hosts is not None and request.host not in hosts:
            abort(403, "wrong host name: open the address exactly as `grader review` printed it")

    @app.after_request
    def protect(response):
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(403)
    @app.errorhandler(404)
    def refused(error):
        return f"{error.code} {error.name}: {error.description}\n", error.code, {"Content-Type": "text/plain; charset=utf-8"}

    def listing(manual, todo: bool) -> list[dict]:
        snap = desk.snapshot()
        return [{"id": v.id, "members": v.members, "auto_points": v.auto_points, "auto_max": v.auto_max,
                 "manual": desk.values(v.id, manual), "complete": manual.complete(v.id), "status": v.status}
                for v in snap.views if not todo or not manual.complete(v.id)]  # fmt: skip

    def common(manual, todo: bool) -> dict:
        ids = [v.id for v in desk.snapshot().views]
        done = sum(1 for i in ids if manual.complete(i))
        return {"todo": todo, "progress": (done, len(ids)), "parts": manual_points.PARTS, "rubric": manual_points.RUBRIC,
                "problems": manual.problems, "sheet": desk.manual_path, "banner": desk.snapshot().banner,
                "broken": desk.snapshot().broken}  # fmt: skip

    @pages.get("/")
    def index():
        todo, manual = request.args.get("todo") == "1", desk.manual()
        rows = listing(manual, todo)
        first = url_for(".submission", sid=rows[0]["id"], todo=int(todo) or None) if rows else None
        return render_template(TEMPLATE, page="index", rows=rows, next_url=first, prev_url=None, **common(manual, todo))

    @pages.route("/s/<sid>", methods=["GET", "POST"])
    def submission(sid: str):
        views = desk.snapshot().views
        view = next((v for v in views if v.id == sid), None)
        if view is None:
            abort(404, "no such submission in this output folder")
        todo = request.values.get("todo") == "1"
        status, errors, typed = 200, [], None
        if request.method == "POST":
            typed = {f: request.form.get(f, "") for f in FIELDS}
            saved = desk.save(sid, typed, {f: request.form.get(f"loaded_{f}", "") for f in FIELDS})
            errors = saved.errors
            if not errors:
                moodle_line = f"; {saved.moodle}" if saved.moodle else ""  # this save's own, whatever other tabs did since
                flash(f"saved to {desk.manual_path.name}; grades.csv, report.html, feedback page and gradebook updated{moodle_line}")
                for notice in saved.notices:
                    flash(notice)
                return redirect(url_for(".submission", sid=sid, todo=int(todo) or None), code=303)
            status = 422
        manual = desk.manual()
        view = view.with_manual(manual)
        stored = desk.values(sid, manual)
        ids = [v.id for v in views]
        here = ids.index(sid)
        wanted = [i for i in ids if not todo or not manual.complete(i) or i == sid]
        position = wanted.index(sid)
        later = [i for i in ids[here + 1:] if i in wanted]
        earlier = [i for i in ids[:here] if i in wanted]
        page = render_template(
            TEMPLATE, page="submission", view=view, fields=typed or stored, loaded=stored if typed is None else
            {f: request.form.get(f"loaded_{f}", "") for f in FIELDS}, errors=errors, messages=get_flashed_messages(),
            flags=desk.similarity().get(sid, []), position=(position + 1, len(wanted)), complete=manual.complete(sid),
            next_url=url_for(".submission", sid=later[0], todo=int(todo) or None) if later else None,
            prev_url=url_for(".submission", sid=earlier[-1], todo=int(todo) or None) if earlier else None,
            state_url=url_for(".state", sid=sid), **common(manual, todo))  # fmt: skip
        return page, status

    @pages.get("/api/s/<sid>")
    def state(sid: str):
        if sid not in {s.id for s in desk.snapshot().submissions}:
            abort(404, "no such submission in this output folder")
        return jsonify(desk.values(sid, desk.manual()))

    @pages.get("/static/<name>")
    def asset(name: str):
        if name not in ASSETS:
            abort(404, "no such file")
        return send_from_directory(HERE, name, max_age=0)

    app.register_blueprint(pages)
    return app


def make_server(out: Path, manual_path: Path | None = None):
    """(server, url): the app on 127.0.0.1 at a free port; server.run() serves until interrupted, server.close() stops."""
    from waitress.server import create_server

    out = Path(out).resolve()
    desk = Desk(out, manual_path or out / manual_points.FILLED_NAME)
    gradebook.api()  # nbgrader's import: paid now, not by the first save

    report.environment().get_template(report.TEMPLATE)  # compiled once, now

    token = secrets.token_urlsafe(24)
    app = create_app(desk, token)
    server = create_server(app, host="127.0.0.1", port=0, threads=4, ident="grader-review")
    port = server.effective_port
    app.config["REVIEW_HOSTS"] = {f"127.0.0.1:{port}", f"localhost:{port}"}
    return server, f"http://127.0.0.1:{port}/{token}/"


def open_browser(url: str) -> bool:
    """Open the address in the desktop's browser when there is one; False otherwise.

    On Linux without a display (a server over ssh) nothing is opened: the text browsers webbrowser
    would fall back to (lynx, w3m) would take over the terminal the app prints to.
    """
    import os
    import sys
    import webbrowser

    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        return webbrowser.open(url)
    except webbrowser.Error:
        return False


def _tidy(text) -> str:
    return str(text or "").replace("\r\n", "\n").strip()


def _shown(value: str) -> str:
    return repr(value[:60]) if value else "blank"
