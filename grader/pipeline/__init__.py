"""The grading pipeline: `grader grade` as explicit steps, between the CLI and the rooms that do the work.

    request.Request     what the tutor asked for (the CLI's options, typed); `check` refuses bad input
                        before anything is touched (InputError)
    flow.grade_class    the steps, in order: take the class (intake, the from-scratch rule), match it to
                        the LMS worksheet and lateness, grade it (executor; the warm-up makes images
                        and the gradebook's structure while the pool grades), finish the warm-up, read
                        manual points, compare the class (similarity), write the outputs (report, pages,
                        CSV, gradebook), write the LMS files, then the output folder's manifest

The ordering the warm-up needs is carried by data: only `finish_images` turns the Warmup into the
ImageCache that similarity and the report take, so neither can run before the warm-up thread is done.
This room may import grading, outputs and sandbox; only the CLI imports it. It never prints: lines
for the tutor go to the `say` callable the CLI passes in.
"""
