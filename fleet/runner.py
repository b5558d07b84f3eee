"""Running checked specs into a results folder: the one path of `fleet run`
and `fleet sweep`.

Under the folder's sweep lock it repairs what a crash left (`recover`),
refuses a folder holding runs of other simulator code, skips the runs
already committed (a sweep resumes) or refuses them (`fleet run` never
overwrites), starts Ray only if there is something to run, and runs the rest
in order, each committed atomically by the engine.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .results import ResultsError, committed_runs, lock_out_dir, recover, runs_from_other_code
from .spec import Spec


@dataclass(frozen=True)
class PlannedRun:
    run_id: str
    spec: Spec
    faults: tuple[str, ...] = field(default=())


def run_all(
    out: str,
    runs: Sequence[PlannedRun],
    *,
    workers: int | None = None,
    address: str | None = None,
    refuse_committed: bool = False,
    announce: Callable[[int], None] | None = None,
    progress: Callable[[int, int, PlannedRun], Callable[[int, int], None] | None] | None = None,
    finished: Callable[[PlannedRun, dict], None] | None = None,
) -> None:
    """Run `runs` (one experiment) into `out`. `announce(n)` is told how many
    are already committed; `progress(i, n, run)` gives the progress callback
    of the i-th of the n runs to do; `finished(run, row)` sees each runs row.
    Raises ResultsError for a folder it must not use or a run already there
    when `refuse_committed`."""
    from . import engine

    name = runs[0].spec.experiment.name
    with lock_out_dir(out):
        recover(out)
        other = runs_from_other_code(out)
        if other:
            raise ResultsError(
                f"{out}: {len(other)} run(s) there, e.g. {other[0]}, were made by other simulator code; "
                "use a new --out or delete the folder"
            )
        done = committed_runs(out, name)
        if refuse_committed:
            for run in runs:
                if run.run_id in done:
                    raise ResultsError(f"{out}: run {name}/{run.run_id} is already there; use another --out")
        todo = [run for run in runs if run.run_id not in done]
        if announce:
            announce(len(runs) - len(todo))
        if todo:
            engine.start_ray(workers, address)
        for i, run in enumerate(todo, 1):
            row = engine.run_one(
                run.spec, run.run_id, out, progress(i, len(todo), run) if progress else None, list(run.faults)
            )
            if finished:
                finished(run, row)
