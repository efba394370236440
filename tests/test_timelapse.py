"""ganforge timelapse: a run's sample grids as one animated GIF or WebP, step by step."""
import numpy as np
import pytest
from PIL import Image, ImageSequence

import ganforge
from ganforge.animation import LABEL_HEIGHT, frame_durations, pick_frames

from conftest import run_cli, tiny


def _durations(path) -> list[int]:
    """Each frame's duration in ms, as the file stores it (Pillow reads a WebP frame's on loading it)."""
    with Image.open(path) as animation:
        frames = []
        for i in range(animation.n_frames):
            animation.seek(i)
            animation.load()
            frames.append(animation.info["duration"])
        return frames


def test_the_grids_become_a_labelled_animation(idx_root, tmp_path, capsys):
    run, out = tmp_path / "run", tmp_path / "t.gif"
    assert run_cli("train", "dcgan-fmnist", "--out", run, *tiny(idx_root, "train.max_steps=8",
                                                                "log.sample_every_steps=2")) == 0
    # a grid written after the newest checkpoint, by a run killed before it saved: a resume trains that step again
    Image.open(run / "samples" / "step_0000008.png").save(run / "samples" / "step_0000010.png")
    capsys.readouterr()
    assert run_cli("timelapse", run, "--out", out, "--fps", 5) == 0
    assert capsys.readouterr().out == f"ganforge: wrote {out}: 4 grids, steps 2 to 8.\n"
    gif = Image.open(out)
    frames = [f.convert("L") for f in ImageSequence.Iterator(gif)]
    assert len(frames) == 4 and gif.info["loop"] == 0
    assert _durations(out) == [200, 200, 200, 2000]  # the last grid stays up
    last = np.asarray(Image.open(run / "samples" / "step_0000008.png").convert("L"))
    assert np.array_equal(np.asarray(frames[-1])[LABEL_HEIGHT:], last)  # grey levels fit a GIF's palette exactly
    labels = [np.asarray(f)[:LABEL_HEIGHT] for f in frames]
    assert labels[-1].max() > 200 and not np.array_equal(labels[0], labels[-1])  # each frame says its own step
    first = np.asarray(Image.open(run / "samples" / "step_0000002.png").convert("L"))
    assert np.array_equal(np.asarray(frames[0])[LABEL_HEIGHT:], first)
    # at most --frames, evenly spread, the first and last kept
    assert ganforge.timelapse(run, tmp_path / "three.gif", frames=3) == (3, 2, 8)
    for name, fps, shown in (("fast.gif", 50, 20), ("fast.webp", 90, 11)):  # the fastest each format plays
        ganforge.timelapse(run, tmp_path / name, fps=fps)
        assert _durations(tmp_path / name) == [shown] * 3 + [2000]
    # a pace that is no whole number of ticks keeps its rate on average: 25 ms frames were stored as 20 in a GIF
    for name, fps, shown in (("40.gif", 40, [20, 30, 30]), ("3.webp", 3, [333, 334, 333])):
        ganforge.timelapse(run, tmp_path / name, fps=fps)
        assert _durations(tmp_path / name) == shown + [2000]
    assert sum(frame_durations(41, 40, 10)[:-1]) == 1000 and set(frame_durations(41, 40, 10)[:-1]) == {20, 30}
    assert pick_frames(100, 5) == [0, 25, 50, 74, 99] and pick_frames(3, 5) == [0, 1, 2]
    # a colour grid: a GIF's palette has 256 colours a frame, a WebP keeps every one
    colours = np.random.default_rng(0).integers(0, 256, (*last.shape, 3), dtype=np.uint8)
    Image.fromarray(colours).save(run / "samples" / "step_0000006.png")
    for name, exact in (("c.gif", False), ("c.webp", True)):
        assert run_cli("timelapse", run, "--out", tmp_path / name) == 0
        with Image.open(tmp_path / name) as animation:
            shown = [np.asarray(f.convert("RGB"))[LABEL_HEIGHT:] for f in ImageSequence.Iterator(animation)]
        assert len(shown) == 4 and np.array_equal(shown[2], colours) == exact
        assert np.array_equal(shown[-1][..., 0], last)  # grey frames stay exact in either


def test_what_a_timelapse_cannot_be_made_from(idx_root, tmp_path, capsys):
    run = tmp_path / "run"
    assert run_cli("timelapse", tmp_path, "--out", tmp_path / "t.gif") == 2
    assert f"'{tmp_path}' is not a run folder" in capsys.readouterr().err
    assert run_cli("train", "dcgan-fmnist", "--out", run, *tiny(idx_root, "train.max_steps=2")) == 0
    # a typo: it said "'.../rnu' is not a run folder", as of a folder that is something else
    assert run_cli("timelapse", tmp_path / "rnu", "--out", tmp_path / "t.gif") == 2
    assert capsys.readouterr().err.endswith(f"'{tmp_path / 'rnu'}' does not exist; give a run folder (the --out of "
                                            f"ganforge train). Did you mean '{run}'?\n")
    # frames browsers would show for 100 ms, slower than asked: a GIF's are whole hundredths, so 60 fps wrote 10 ms
    assert run_cli("timelapse", run, "--out", tmp_path / "t.gif", "--fps", 60) == 2
    assert capsys.readouterr().err.endswith("--fps 60 is above 50 for a .gif: browsers show a frame of 10 ms or less "
                                            "for 100 ms, so it would play at 10 frames a second; give --fps 50 or "
                                            "less, or write a .webp (up to 90).\n")
    assert run_cli("timelapse", run, "--out", tmp_path / "t.webp", "--fps", 100) == 2
    assert capsys.readouterr().err.endswith("--fps 100 is above 90 for a .webp: browsers show a frame of 10 ms or "
                                            "less for 100 ms, so it would play at 10 frames a second; give --fps 90 "
                                            "or less.\n")
    assert run_cli("timelapse", run, "--out", tmp_path / "t.mp4") == 2
    assert capsys.readouterr().err.endswith(f"--out '{tmp_path / 't.mp4'}': a timelapse is an animated .gif (or a "
                                            "lossless .webp, for a colour run's exact colours); name it 't.gif'.\n")
    # one grid (tiny's every 4 steps, and the end at step 2): a still, written, and said to be one
    with pytest.warns(UserWarning) as said:
        assert run_cli("timelapse", run, "--out", tmp_path / "one.gif") == 0
    assert [str(w.message) for w in said] == [f"'{run}' holds one sample grid (step 2), so the timelapse is a still "
                                              "picture; the run saves a grid every 4 steps (log.sample_every_steps) "
                                              "and when it stops. Train it on (--resume, a bound raised) for more."]
    for name in ("last.pt", "last.pt.sum"):
        (run / "checkpoints" / name).unlink()  # killed before its first checkpoint: no grid is of a state kept
    assert run_cli("timelapse", run, "--out", tmp_path / "t.gif") == 2
    assert "has no sample grids up to its checkpoint yet" in capsys.readouterr().err
