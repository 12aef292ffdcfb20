"""The command line's `sweep`: train's options searched with Optuna (numpy_mlp.sweep runs the
trials; this parses, calls and renders), its workers on this machine or many, and the best trial
trained again and saved. It joins numpy_mlp.cli's app."""

import contextlib
import json
import os
import shlex
import signal
import sys
import time

import typer

import mlp
from numpy_mlp import data as mlp_data
from numpy_mlp import guard as mlp_guard
from numpy_mlp import run as mlp_run
from numpy_mlp import trackers as mlp_trackers
from numpy_mlp import view as mlp_view
from numpy_mlp.cli import HelpPage, app, check_trackers, fail, load_data, run_params, say_warning, sweep_module
from numpy_mlp.guard import Stop
from numpy_mlp.help import program
from numpy_mlp.options import Default, Option, set_threads

# ----------------------------------------------------------------------------- sweep
# Optuna searches (mlp_sweep); each trial trains here as `train` would, quietly, on a validation
# split, so that the best trial's `train` command gives the same validation accuracy.


def train_options(ctx, activation, args, refused):
    """(values, given) of train's options in `args`, parsed by train's own command (its checks
    and callbacks, --threads included): values of every option, `given` the names on the
    command line."""
    command = ctx.parent.command.get_command(ctx.parent, "train")
    try:
        parsed = command.make_context("train", [activation, *args], parent=ctx.parent)
    except typer.TyperException as e:
        if getattr(e, "ctx", None) is not None:
            e.ctx = ctx  # the hint names sweep's page, which says train's options are taken
        raise
    given = {
        name
        for name in parsed.params
        if name != "activation" and parsed.get_parameter_source(name).name not in ("DEFAULT", "DEFAULT_MAP")
    }
    for name in refused.keys() & given:  # {option: why}
        fail(refused[name], code=2)
    return parsed.params, given


@contextlib.contextmanager
def mlflow_parent(study, tracked, *, experiment, params):
    """With --mlflow (`tracked` names "mlflow"), the MLflow run a study's trials are logged under:
    made here, by the study's first sweep, its id kept in the study (user attribute "mlflow") for
    every worker. Yields the parent's mlp_trackers.Watch (one of no tracker otherwise): the caller
    calls `finished(None, files)` once the sweep is done (the run is KILLED otherwise). A tracking
    store that fails warns once; the sweep goes on without it."""
    if "mlflow" not in tracked or "mlflow" in study.user_attrs:
        with mlp_trackers.watching([], [], say_warning) as watch:
            yield watch
        return
    tags = {"numpy_mlp.command": shlex.join(sys.argv), "numpy_mlp.study": study.study_name}
    parent = mlp_trackers.MLflow(experiment=experiment, run_name=f"sweep {study.study_name}", params=params, tags=tags)
    with mlp_trackers.watching([parent], [], say_warning) as watch:  # started once this returns
        if parent.run_id is not None:
            study.set_user_attr("mlflow", {"run": parent.run_id, "experiment": experiment})
        yield watch


def trial_watching(study, tracked, data):
    """`watched(run, name)` for sweep.trainer: each trial as an MLflow run under the study's
    (mlflow_parent's), with --mlflow; no tracker otherwise, nor for the best trial trained again."""
    parent = study.user_attrs.get("mlflow") if "mlflow" in tracked else None

    def watched(run, name):
        if parent is None or name is None:
            return mlp_trackers.watching([], [], say_warning)
        tags = {"numpy_mlp.study": study.study_name}
        trial = mlp_trackers.MLflow(
            experiment=parent["experiment"],
            run_name=name,
            params=run_params(run, data),
            tags=tags,
            parent=parent["run"],
        )
        return mlp_trackers.watching([trial], [], say_warning)

    return watched


def sweep_here(study, trials, space, objective, *, threads, heartbeat, quiet, sweep):
    """Run the study's trials in this process (the live table unless `quiet`: a --worker)."""
    with contextlib.ExitStack() as stack:
        view = None if quiet else stack.enter_context(mlp_view.SweepView(study, space, sweep, trials))
        sweep.run_worker(
            study,
            trials,
            space=space,
            train_trial=objective,
            on_event=view.update if view else (lambda *event: None),
            threads=threads,
            poll=min(heartbeat, 1.0),
        )


def sweep_with_workers(study, trials, space, commands, *, url, sweep):
    """Run the study's trials in worker processes (one a command), the live table here."""
    with mlp_view.SweepView(study, space, sweep, trials, workers=len(commands)) as view:
        codes = sweep.local_workers(commands, url, on_poll=view.update)
        view.update("end")  # the last trials, whenever the last poll was
    finished = sum(r["state"] in ("complete", "pruned") for r in sweep.trial_rows(study))
    if finished < trials:
        fail(
            f"the workers ended (exit codes {', '.join(map(str, codes))}) with {finished} of {trials} trials "
            f"finished: see their lines above; run the same command to continue study '{study.study_name}'"
        )
    for code in (c for c in codes if c):  # killed, say: the others ran its trial again
        ended = f"by signal {-code}" if code < 0 else f"with exit code {code}"
        mlp_view.err_console.print(f"a worker ended {ended}; the others finished the study", highlight=False)


def stopped_sweep(signum, study, name, sweep, since):
    """The one line a stopped sweep says: which trials it (or its workers, on this machine)
    marked failed since it started, what the study keeps."""
    stopped, finished = sweep.stopped_trials(study, since)
    failed = f"trial{'s' if len(stopped) > 1 else ''} {', '.join(map(str, stopped))} marked failed; " if stopped else ""
    mlp_view.err_console.print(
        f"{signal.Signals(signum).name}: sweep stopped; {failed}study '{name}' keeps {finished} finished trials: "
        "run the same command to continue it",
        style="yellow",
        highlight=False,
        soft_wrap=True,
    )
    raise typer.Exit(code=128 + signum)


def out_for_sweep(stack, lock_path, out, what):
    """Take --out for this sweep (None); when a sweep of the same study and storage holds it (the
    same command started again on this machine: another worker), join its trials instead and
    return the holder's line. Anything else holding --out is refused (OutputHeld)."""
    try:
        stack.enter_context(mlp_guard.one_run_per_output(lock_path, out, what=what))
        return None
    except mlp_guard.OutputHeld as held:
        if held.what != what:
            raise
        mlp_view.err_console.print(
            f"{out.name} is held by another worker of this study ({held.holder}): this one shares its trials, "
            "and saves the best trial only if that worker has not",
            highlight=False,
            soft_wrap=True,
        )
        return held.holder


def holds_best(path, study_record, best):
    """Whether the weights at path are this study's best trial trained again (another worker of
    the study saved them); study_record: (its name, its storage as the weights record it)."""
    try:
        _, meta = mlp_run.load_weights(path)
    except (OSError, ValueError):
        return False
    said = meta.get("sweep") or {}
    return (said.get("study"), said.get("storage"), said.get("trial")) == (*study_record, best.number)


def say_best_command(study, best, sweep, program_name):
    """The best trial's `train` command, on a line of its own (markup off: it is typed as shown)."""
    mlp_view.console.print("the best trial's train command:", highlight=False)
    mlp_view.console.print(
        f"  {sweep.best_command(study, best, program_name)}", highlight=False, soft_wrap=True, markup=False
    )


def sweep_result(study, *, name, url, space, train_trial, found, paths, saved_by_another, sweep, program_name):
    """The end of a sweep: the trials table, then the best trial trained again here (its
    validation accuracy compared with the trial's), saved to paths (--out and its history), and
    its `train` command. A worker that joined another's sweep (`saved_by_another`) keeps what
    that worker saved when it is the best trial already."""
    rows, task = sweep.trial_rows(study), study.user_attrs.get("task")
    mlp_view.show(mlp_view.trials_table(rows, space, f"Study '{name}'", task))
    mlp_view.console.print(sweep.study_summary(rows, name, url), highlight=False, soft_wrap=True)
    best, (out, history_path) = sweep.best_trial(study), paths
    if saved_by_another and best is not None and holds_best(out, (name, sweep.masked(url)), best):
        words, shown = mlp_view.scored_as(task)
        mlp_view.console.print(
            f"best trial {best.number}: {words} {shown(best.value)}; another worker of this study trained it again "
            f"and saved it to {out}",
            highlight=False,
            soft_wrap=True,
        )
        say_best_command(study, best, sweep, program_name)
        return
    if best is not None and best.user_attrs.get("threads"):
        set_threads(best.user_attrs["threads"])  # the trial's own BLAS threads: the same sums, the same last bits
    again = sweep.best_retrained(study, name=name, url=url, train_trial=train_trial, found=found)
    history, best, value = again["history"], again["best"], again["value"]
    mlp_run.write_outputs(
        {
            out: mlp.weights_writer(again["params"], again["meta"]),
            history_path: mlp_run.text_writer(json.dumps(history, indent=1)),
        }
    )
    words, shown = mlp_view.scored_as(task)
    same = "the same" if value == best.value else f"{shown(value)} (another CPU or BLAS changes the last bits)"
    mlp_view.console.print(
        f"best trial {best.number}: {words} {shown(best.value)}, trained again here {same}; "
        f"test {mlp_view.score_words(again, 'test', task)}; weights saved to {out}, history to {history_path}",
        highlight=False,
        soft_wrap=True,
    )
    say_best_command(study, best, sweep, program_name)


def show_study(storage, url, name, sweep, program_name):
    """`sweep --show`: a study's table and best command, read from its storage."""
    study = sweep.stored_study(storage, url, name)
    rows, task = sweep.trial_rows(study), study.user_attrs.get("task")
    mlp_view.show(mlp_view.trials_table(rows, study.user_attrs.get("space", {}), f"Study '{name}'", task))
    mlp_view.console.print(sweep.study_summary(rows, name, url), highlight=False, soft_wrap=True)
    best = sweep.best_trial(study)
    if best is not None:
        words, shown = mlp_view.scored_as(task)
        mlp_view.console.print(f"best trial {best.number}: {words} {shown(best.value)}; its train command:")
        mlp_view.console.print(
            f"  {sweep.best_command(study, best, program_name)}", highlight=False, soft_wrap=True, markup=False
        )


@app.command(cls=HelpPage, context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def sweep(
    ctx: typer.Context,
    *,
    activation: Option.activation,
    trials: Option.trials = Default.trials,
    jobs: Option.jobs = Default.jobs,
    storage: Option.storage = Default.storage,
    study: Option.sweep_study = Default.sweep_study,
    space: Option.space = Default.space,
    out: Option.sweep_out = Default.sweep_out,
    show_only: Option.show_only = Default.show_only,
    heartbeat: Option.heartbeat = Default.heartbeat,
    worker: Option.worker = Default.worker,
):
    """Search the training options you leave open with Optuna: every train option given (see 'train --help') is held fixed, each trial is scored on a validation split, and the best is trained again and saved.

    Workers anywhere that run the same command against the same --storage share its study's
    trials; a worker killed mid-trial leaves the study usable, its trial retried."""
    sweep = sweep_module()
    values, given = train_options(ctx, activation.value, ctx.args, sweep.SWEEP_REFUSES)
    out, history_path, _, lock_path = mlp_run.train_paths(out)
    tracked = check_trackers(None, mlp_trackers.mlflow_wanted(values["mlflow"], os.environ))
    compared = {k: sweep.plain_value(values[k]) for k in sorted(given) if k not in sweep.SWEEP_NOT_COMPARED}
    name = study or sweep.described_fixed({"activation": activation.value, "options": compared})
    if show_only:
        url, storage_ = sweep.sweep_storage(storage, out, heartbeat=heartbeat, must_exist=True)
        return show_study(storage_, url, name, sweep, program(ctx))
    what, joined = f"sweep '{name}' on {sweep.masked(storage or sweep.default_storage(out))}", None
    with contextlib.ExitStack() as held_out:
        if not worker:  # a second sweep (or train) with this --out is refused, before any file is made
            storage_files = sweep.storage_files(storage or sweep.default_storage(out))  # the study: an input too
            inputs = [*mlp_data.data_files(values["data"]), values["init"], *storage_files]
            mlp_run.check_outputs([out, history_path], inputs)
            joined = out_for_sweep(held_out, lock_path, out, what)
        # everything that can be refused is checked before the storage's file is made
        asked_space = sweep.read_space(space) if space else None
        found = load_data(
            values["data"],
            label_column=values["label_column"],
            task=sweep.plain_value(values["task"]),
            columns={"categorical": values["categorical"], "ignore": values["ignore"]},
        )
        val = sweep.sweep_val(values, len(found.y_train))
        searched, held = sweep.sweep_space(asked_space, given, found=found, values=values)
        url, storage_ = sweep.sweep_storage(storage, out, heartbeat=heartbeat)
        if held:
            said = ", ".join("--" + n.replace("_", "-") for n in held)
            mlp_view.err_console.print(f"{said} given: held fixed, not searched", highlight=False, soft_wrap=True)
        try:
            study_ = sweep.open_study(
                storage_, name, fixed={"activation": activation.value, "options": compared, "val": val}, space=searched
            )
            if "args" not in study_.user_attrs:
                study_.set_user_attr("args", list(ctx.args))
                study_.set_user_attr("program", program(ctx))  # for each trial's train command
            if found.task != "classification" and "task" not in study_.user_attrs:  # what its values are
                study_.set_user_attr("task", found.task)
        except ValueError as e:
            fail(str(e), code=2)
        except sweep.storage_failures() as e:  # a read-only database, say
            fail(
                f"cannot use the sweep storage {sweep.masked(url)}: {sweep.failure_reason(e, url)}; give another --storage"
            )
        parent = held_out.enter_context(
            mlflow_parent(
                study_,
                tracked if not worker else [],
                experiment=mlp_trackers.experiment_name(values["mlflow_experiment"], os.environ),
                params={"activation": activation.value, **compared, "val": val, "trials": trials},
            )
        )
        train_trial = sweep.trainer(
            {k: sweep.plain_value(v) for k, v in values.items()},
            given,
            found=found,
            val=val,
            watched=trial_watching(study_, tracked, values["data"]),
        )
        started = time.time()
        if jobs > trials:  # a worker beyond the trials would only wait
            many = f"{trials} worker{'s' if trials > 1 else ''}"
            mlp_view.err_console.print(f"--jobs {jobs}: {many}, as many as --trials", highlight=False)
            jobs = trials
        if worker:
            sweep.end_with_parent()
        try:
            if worker or jobs == 1:
                sweep_here(
                    study_,
                    trials,
                    searched,
                    train_trial,
                    threads=values["threads"],
                    heartbeat=heartbeat,
                    quiet=worker,
                    sweep=sweep,
                )
            else:
                threads = values["threads"] or max(1, (os.cpu_count() or 1) // jobs)
                command = sweep.worker_command(
                    ctx.args,
                    activation.value,
                    trials=trials,
                    study=name,
                    space=space,
                    out=out,
                    heartbeat=heartbeat,
                    threads=threads,
                )
                sweep_with_workers(study_, trials, searched, [command] * jobs, url=url, sweep=sweep)
        except (sweep.StoppedTrial, Stop) as stop:
            if worker:
                raise typer.Exit(code=128 + stop.signum) from None
            stopped_sweep(stop.signum, study_, name, sweep, since=started)
        except sweep.storage_failures() as e:
            fail(
                f"the sweep storage {sweep.masked(url)} failed: {sweep.failure_reason(e, url)}; the study keeps "
                "its finished trials: run the same command to continue it"
            )
        if worker:
            return
        with mlp_guard.one_run_per_output(lock_path, out, what=what, wait=True) if joined else contextlib.nullcontext():
            sweep_result(
                study_,
                name=name,
                url=url,
                space=searched,
                train_trial=train_trial,
                found=found,
                paths=(out, history_path),
                saved_by_another=joined is not None,
                sweep=sweep,
                program_name=program(ctx),
            )
        parent.finished(None, [path for path in (out, history_path) if path.is_file()])
