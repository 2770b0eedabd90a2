"""Output work done while the pool grades, so that little is left to do after the last run.

While the pool grades, the coordinator mostly waits. A Warmup uses that time, on one thread of its own:
once the first run is handed to the pool (begin(): the outputs will change), nbgrader's API (SQLAlchemy,
nbgrader's models), matplotlib and Pillow are imported and the pages' templates compiled, while the runs
start (the fork server's imports leave a core idle then); once a result that was not kept arrives, the
gradebook's structure is built (a gradebook.Draft: the answer key's grade cells, every student and their
submission; after the pool only the scores are added); and as each submission's result arrives, its images
(the learning-rate plots redrawn from its histories, its submitted PNGs checked and re-encoded) are
made into the report's ImageCache. report.write_all then finds every image made: the entries are the
same content-addressed ones it would make itself, so the outputs do not depend on the warm-up having
run, finished or failed (a failure here is only logged; write_all makes what is missing, and writes
the whole gradebook when the draft is missing or does not fit the final rows).

One thread, so matplotlib never draws two figures at once, and the images come in the order the
results do. finish() waits for the queue (the images of the last results), cancel() drops it.
"""

from __future__ import annotations

import importlib
from concurrent.futures import ThreadPoolExecutor

from grader.grading.intake import Submission
from grader.grading.results import Result
from grader.outputs.report import ImageCache


class Warmup:
    def __init__(self, images: ImageCache, submissions: list[Submission], gradebook: bool = True, draft=None):
        self.images = images
        self.by_id = {sub.id: sub for sub in submissions}
        self.gradebook = gradebook  # import nbgrader once something is run (False: no gradebook is written)
        self.draft = draft  # grader.outputs.gradebook.Draft to build then, or None
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="warmup")
        self.failures: list[str] = []
        self.begun = self.drafted = False

    def begin(self) -> None:
        """The outputs will change (a run was handed to the pool, or a result that was not kept arrived): queue the
        imports and the templates, once."""
        if not self.begun:
            self.begun = True
            if self.gradebook:
                self._submit(_preload_gradebook)
            self._submit(_compile_pages)
            self._submit(_preload_images)

    def add(self, result: Result, cached: bool) -> None:
        """A result has arrived (progress callback): queue its images, and after begin()'s work the draft's."""
        if not cached:
            self.begin()
            if self.gradebook and self.draft is not None and not self.drafted:  # every result carries the key's tests
                self.drafted = True
                self._submit(self.draft.build, [(t.id, t.points) for t in result.tests])
        sub = self.by_id.get(result.submission)
        if sub is not None:
            self._submit(self.images.make, sub, result)

    def finish(self) -> ImageCache:
        """Wait for the queued work; the ImageCache for similarity and report.write_all (failures: self.failures)."""
        self.pool.shutdown(wait=True)
        return self.images

    def cancel(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _submit(self, work, *args) -> None:
        def guarded():
            try:
                work(*args)
            except Exception as error:  # noqa: BLE001  (the same work is redone, and reported, by write_all)
                self.failures.append(f"{type(error).__name__}: {error}"[:300])

        self.pool.submit(guarded)


def _preload_gradebook() -> None:
    from grader.outputs import gradebook

    gradebook.api()  # nbgrader's API (SQLAlchemy, nbgrader's models): a share of a second of CPU


def _preload_images() -> None:
    """What drawing and re-encoding the images use (matplotlib's Figure, its tickers and font manager; Pillow's PNG
    codec), imported now: a share of a second the first image would otherwise pay."""
    for name in ("matplotlib.figure", "matplotlib.ticker", "PIL.Image", "PIL.PngImagePlugin"):
        importlib.import_module(name)


def _compile_pages() -> None:
    """The pages' Jinja templates parsed and compiled (the environment keeps them), so that after the pool
    only their rendering is left."""
    from grader.outputs import report, similarity

    report.environment().get_template(report.TEMPLATE)
    report.environment().get_template(similarity.TEMPLATE)
