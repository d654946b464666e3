"""Experiments: answer the notebooks' "why" questions by training tiny networks side by side (issue 16).

Each experiment is a job of the server's job table (kind "experiment"): a training worker runs it, never
this server's process; it waits in the same queue as the trainings, and the Class page lists it."""

import dataclasses

import streamlit as st

from cnnviz.app import jobs, pickers
from cnnviz.app.boundary import friendly_errors
from cnnviz.app.panel import LIVE_REFRESH_S
from cnnviz.app.remember import KEEP
from cnnviz.data import datasets, stored
from cnnviz.errors import CnnvizError
from cnnviz.lessons import experiments as ex
from cnnviz.markup import plain_text
from cnnviz.plots import experiments as plots
from cnnviz.training import experiment_jobs

RESULTS = "experiments_results"  # session state: {experiment: its result}
DATA_KEY = "experiments_data"  # session state: the (dataset, training images) the results are of
JOB_KEY = "experiments_job"  # session state: {"name", "job_id", "data"} of this session's experiment job
NOTES = "experiments_notes"  # session state: {experiment: why it gave no result (stopped, failed)}
HARDER_MOST = 1_000  # digits: 1,437 training images, 200 of them kept for validation
ENDED = {"stopped": "Stopped: nothing was kept.", "cancelled": "Stopped before it started.",
         "interrupted": "The server stopped while this experiment ran; run it again."}


def _run(name: str, label: str, experiment: str, data: dict, **settings) -> None:
    """A button that queues ``experiment`` on ``data`` as this session's job (one at a time); the job's
    progress and Stop button are at the bottom of the page (:func:`_follow`)."""
    job = st.session_state.get(JOB_KEY)
    if st.button(label, key=f"exp_run_{name}", disabled=job is not None):
        with friendly_errors(label):
            job_id = experiment_jobs.submit(jobs.training_jobs(), experiment, data, label=f"Experiment: {label}",
                                            settings=settings, owner=jobs.owner())
            job = st.session_state[JOB_KEY] = {"name": name, "job_id": job_id, "data": st.session_state.get(DATA_KEY)}
            st.session_state.setdefault(NOTES, {}).pop(name, None)
    if job is not None and job["name"] == name:
        st.caption("Queued as a job of the server: its progress and Stop button are at the bottom of the page.")
    if (note := st.session_state.get(NOTES, {}).get(name)) is not None:
        st.warning(plain_text(note))  # a job's error may repeat a dataset's name


def _collect() -> None:
    """When this session's experiment job has ended: keep its result (or why there is none)."""
    job = st.session_state.get(JOB_KEY)
    if job is None:
        return
    try:
        status = jobs.training_jobs().status(job["job_id"])
    except CnnvizError:  # e.g. a job table damaged since the session began: the job's view below says so; kept
        return
    if status is not None and status.active:
        return
    del st.session_state[JOB_KEY]
    notes = st.session_state.setdefault(NOTES, {})
    if status is None:
        notes[job["name"]] = "The server no longer knows this experiment; run it again."
    elif status.state == "finished":
        try:
            value = experiment_jobs.result(job["job_id"], by=jobs.owner())
        except CnnvizError as err:  # e.g. a damaged result file: said beside the experiment, as an error is
            notes[job["name"]] = str(err)
            return
        if value is not None and job["data"] == st.session_state.get(DATA_KEY):  # else: of other images
            st.session_state.setdefault(RESULTS, {})[job["name"]] = value
    else:
        notes[job["name"]] = status.error or ENDED.get(status.state, status.state)


def _follow() -> None:
    """This session's experiment job, refreshed every second (drawn last: the page's one fragment)."""
    job = st.session_state.get(JOB_KEY)
    if job is not None:
        st.fragment(_job_view, run_every=LIVE_REFRESH_S)(job["job_id"])


def _job_view(job_id: str) -> None:
    with friendly_errors("Showing the experiment"):  # e.g. a job table damaged since the session began: said
        _job_status(job_id)


def _job_status(job_id: str) -> None:
    manager = jobs.training_jobs()
    status = manager.status(job_id)
    if status is None or not status.active:
        st.rerun(scope="app")  # ended: the page takes its result
    st.subheader(status.label)
    if status.state == "queued":
        st.progress(0.0, text=f"Waiting: place {status.queue_position} in the server's queue "
                              f"(it trains {manager.max_jobs} at a time)")
        problem = manager.slot_problem()  # e.g. a slot's lock file left by a server once run as root
        if problem:
            st.warning(plain_text(problem), icon=":material/block:")
    else:
        p = status.progress
        st.progress(p.fraction, text=f"{p.note or 'Starting'} ({p.fraction:.0%}, {p.elapsed_s:.0f} s)")
    if status.stop_requested:
        st.caption("Stopping after the current batch…")
    elif st.button("Stop", key="exp_stop", icon=":material/stop_circle:"):
        with friendly_errors("Stopping the experiment"):
            jobs.stop_training(job_id)


def _result(name: str):
    return st.session_state.get(RESULTS, {}).get(name)


def _table(results) -> None:
    st.dataframe([{"training": r.label, "parameters": f"{r.parameters:,}", "updates per epoch": r.steps_per_epoch,
                   "seconds per epoch": round(r.seconds_per_epoch, 2),
                   "training accuracy": f"{r.train_accuracy[-1]:.1%}",
                   "validation accuracy": f"{r.val_accuracy[-1]:.1%}"} for r in results], hide_index=True)


def _batch_sizes(data: ex.Data) -> None:
    st.subheader("Batch sizes: why mini-batches?")
    st.caption("Seed 000 Q13. The same network, from the same initial weights, trained with batches of 8, 64 "
               "and 512 images (all of them, when you chose fewer). A big batch makes few updates per epoch; a tiny "
               "one makes many noisy ones and keeps the processor waiting between them. Compare the seconds per epoch and the curves.")
    _run("batch", "Compare batch sizes", "batch_sizes", {"images": data}, batch_sizes=list(ex.BATCH_SIZES))
    if (results := _result("batch")) is not None:
        _table(results)
        st.plotly_chart(plots.loss_by_images(results), key="exp_batch_loss")


def _batch_norm(data: ex.Data) -> None:
    st.subheader("Batch norm with a batch of 2 or 64")
    st.caption("Seed 001 Q7. Batch normalisation subtracts the mean of the batch it is given and divides by its standard deviation, channel by channel. "
               "How far a batch's channel mean strays from the whole data's (in standard deviations):")
    noise = ex.batch_mean_noise(data.x_train, [b for b in (2, 8, 64, 512) if b <= len(data.x_train)])
    st.dataframe([{"batch size": b, "batch mean off by (std)": round(v, 3)} for b, v in noise.items()],
                 hide_index=True)
    st.caption("Too small (2): the statistics are noise, training and test behave differently. Too large: few "
               "updates per epoch and the batch may not fit the GPU's memory. Train the same network with "
               "batch norm both ways:")
    _run("bn", "Train with batch norm, batch 2 and 64", "batch_sizes", {"images": data},
         batch_sizes=list(ex.BN_BATCH_SIZES), epochs=2, batch_norm=True)
    if (results := _result("bn")) is not None:
        _table(results)
        st.plotly_chart(plots.accuracy_by_epoch(results), key="exp_bn_accuracy")


def _streaming(data: ex.Data) -> None:
    st.subheader("Data larger than memory")
    st.caption("Seed 000 Q24. Instead of arrays in memory, a generator reads each batch's image files from "
               "disk: it holds one batch at a time, and pays for reading and decoding every image every epoch.")
    _run("stream", "Train from memory and from files", "memory_and_streaming", {"images": data})
    if (r := _result("stream")) is not None:
        st.dataframe([
            {"way": "arrays in memory", "held in memory": f"{r.memory_bytes / 1024:,.0f} KiB (all images)",
             "seconds per epoch": round(r.memory_seconds, 2), "validation accuracy": f"{r.memory_accuracy:.1%}"},
            {"way": "files, batch by batch", "held in memory": f"{r.streaming_bytes / 1024:,.0f} KiB (one batch)",
             "seconds per epoch": round(r.streaming_seconds, 2), "validation accuracy": f"{r.streaming_accuracy:.1%}"},
        ], hide_index=True)
        st.caption(f"The files take {r.file_bytes / 1024:,.0f} KiB on disk (PNG). Streaming was "
                   f"{r.streaming_seconds / max(r.memory_seconds, 1e-9):.1f}× the time per epoch of memory.")


def _dense_or_conv(ds: datasets.Dataset, data: ex.Data) -> None:
    st.subheader("Dense or convolutional?")
    st.caption("Seed 001 Q5 and seed 003 3.1. A convolution uses the same few weights at every position, so "
               "its parameters do not grow with the image; a dense layer has one weight per input value (pixel and colour channel) and unit:")
    st.dataframe([{"image": f"{r['side']}×{r['side']}×3", "Conv2D, 16 filters of 3×3": f"{r['conv']:,}",
                   "Dense, 16 units": f"{r['dense']:,}"} for r in ex.conv_and_dense_parameters()], hide_index=True)
    _run("dense_conv", "Train a dense and a conv net on the same images", "networks", {ds.name: data})
    if (results := _result("dense_conv")) is not None:
        _table(results)
        st.plotly_chart(plots.accuracy_by_epoch(results), key="exp_dense_conv_accuracy")


def _harder(ds: datasets.Dataset, data: ex.Data, size: int) -> None:
    st.subheader("Why is CIFAR-10 harder than digits?")
    count = min(size, HARDER_MOST)  # both sides the same number of images, or the comparison is not fair
    st.caption(f"Seed 001 Q3. The same conv net trained on {count:,} of your images and {count:,} 8×8 handwritten "
               "digits" + (f" (at most {HARDER_MOST:,}: the digits have no more to spare)" if size > count else "")
               + ": digits are centred, grey and alike within a class; photos vary in pose, colour and background.")
    if ds.name == "digits":
        st.info("Choose CIFAR-10 (or another dataset) above to compare it with the digits.")
        return
    digits = datasets.load("digits")
    other = ex.make_data(digits.x_train, digits.y_train, train_size=count, val_size=200, num_classes=10)
    mine = dataclasses.replace(data, x_train=data.x_train[:count], y_train=data.y_train[:count])  # a random draw
    _run("harder", f"Train on digits and on {stored.title(ds.name)}", "networks",
         {"digits": other, ds.name: mine}, kinds=["conv"])
    if (results := _result("harder")) is not None:
        _table(results)


def _dropout(ds: datasets.Dataset, data: ex.Data) -> None:
    st.subheader("Dropout at test time")
    st.caption("Seed 001 Q6. A dense net with dropout 0.5 is trained for 3 epochs, then predicts the first "
               "validation image 10 times with dropout off (what predict and evaluate do) and 10 times with it on.")

    _run("dropout", "Predict with dropout off and on", "dropout", {"images": data})
    if (r := _result("dropout")) is not None:
        st.plotly_chart(plots.dropout_bars(r, ds.class_names), key="exp_dropout")
        st.caption(r.in_words(ds.class_names))


def main() -> None:
    st.title("Experiments")
    st.write("Questions of the notebooks answered by trying: each experiment trains tiny networks side by side "
             "on a few images of the dataset you choose (seconds to a minute).")
    with friendly_errors("Loading the data"):
        ds = pickers.pick_dataset(key="exp_dataset", prefer=("cifar10", "digits"))
        val = min(200, len(ds.y_train) // 4)
        most = min(len(ds.y_train) - val, 2000) // 50 * 50
        if most < 100:
            st.info(f"{stored.title(ds.name)} has too few training images for these experiments; choose another.")
            return
        size = st.slider("Training images", 50, most, min(500, most), step=50, key="exp_size", persist_state=KEEP)
        data = ex.make_data(ds.x_train, ds.y_train, train_size=size, val_size=val, num_classes=ds.num_classes)
        if st.session_state.get(DATA_KEY) != (ds.name, size):  # results of other data no longer apply
            st.session_state[DATA_KEY], st.session_state[RESULTS] = (ds.name, size), {}
        _collect()
    _batch_sizes(data)
    _batch_norm(data)
    _streaming(data)
    _dense_or_conv(ds, data)
    _harder(ds, data, size)
    _dropout(ds, data)
    _follow()


main()
