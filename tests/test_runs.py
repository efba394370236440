"""ganforge runs: the runs under a folder, each finished, stopped, training or without a checkpoint, with
its figures."""
import json
import shutil
import warnings
from pathlib import Path

import pytest
import torch

import ganforge
from ganforge.data.folder import DataWarning
from ganforge.training.lock import RunLock

from conftest import run_cli, tiny


@pytest.fixture(scope="module")
def runs_folder(idx_root, tmp_path_factory):
    """runs/{done, killed, evaluated, sweep/lr_1, empty_start} and a folder that holds no run."""
    root = tmp_path_factory.mktemp("runs")

    def train(name, *sets):
        assert run_cli("train", "dcgan-fmnist", "--out", root / name, *tiny(idx_root, *sets)) == 0

    train("done", "train.max_steps=4")
    # killed after step 4's checkpoint, before step 8's: the newest checkpoint is step 4's
    train("killed", "train.max_steps=8")
    for name in ("step_0000008.pt", "step_0000008.pt.sum", "last.pt", "last.pt.sum"):
        (root / "killed" / "checkpoints" / name).unlink()
    with warnings.catch_warnings():  # a small eval.num_samples is warned about
        warnings.simplefilter("ignore")
        train("evaluated", "train.max_steps=8", "train.batch_size=32", "eval.every_kimg=0.064", "eval.num_samples=32",
              "eval.metrics=fid")
    with warnings.catch_warnings():  # kid_std of so few images
        warnings.simplefilter("ignore")
        assert run_cli("evaluate", root / "evaluated", "--num", 40, "--metrics", "kid") == 0
    train("sweep/lr_1", "train.max_steps=2", "optim_g.lr=1e-3")
    shutil.copytree(root / "done", root / "empty_start")
    shutil.rmtree(root / "empty_start" / "checkpoints")  # killed before its first checkpoint
    (root / "notes").mkdir()
    (root / "notes" / "config.json").write_text('{"not": "a ganforge run"}')
    return root


def test_the_table_says_where_each_run_stands(runs_folder, idx_root, capsys):
    capsys.readouterr()
    assert run_cli("runs", runs_folder) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["run", "config", "set", "step", "images", "trained", "state", "figures"]
    rows = {line.split()[0].removeprefix(str(runs_folder) + "/"): line for line in lines[1:]}
    # what each run set otherwise than its preset, for training (a sweep's lr): not its bounds, logging or evaluation
    assert rows["sweep/lr_1"].split()[1:4] == ["dcgan-fmnist", f"data.root=…/{idx_root.name}", "optim_g.lr=0.001"]
    assert rows["done"].split()[1:4] == ["dcgan-fmnist", f"data.root=…/{idx_root.name}", "4"]
    assert list(rows) == ["done", "empty_start", "evaluated", "killed", "sweep/lr_1"]  # not notes/, whose config
    # is another tool's
    assert "finished: train.max_steps=4" in rows["done"]
    assert "stopped: --resume continues it" in rows["killed"] and rows["killed"].split()[3] == "4"
    assert "no checkpoint: stopped before its first; it trains again from step 0" in rows["empty_start"]
    evaluation = ganforge.history(runs_folder / "evaluated")
    fids = [(r["step"], r["eval/fid"]) for r in evaluation if "eval/fid" in r]
    best_step, best = min(fids, key=lambda p: p[1])
    # with what each was measured, which runs must share to compare (it said the figure alone)
    assert f"fid {fids[-1][1]:.4g} (best {best:.4g} at {best_step:,}; fmnist, 32 images); evaluate: kid " \
        in rows["evaluated"]
    assert rows["evaluated"].endswith(" at 8 (fmnist, 40 images)")


def test_the_columns_line_up_under_names_in_chinese(runs_folder, tmp_path, capsys):
    """A CJK character takes two columns on a screen: the columns after '运行/一' stood one column left per
    character of it."""
    from tqdm.utils import disp_len
    for name in ("运行/一", "ab"):
        shutil.copytree(runs_folder / "done", tmp_path / name)
    capsys.readouterr()
    assert run_cli("runs", tmp_path) == 0
    lines = capsys.readouterr().out.splitlines()
    starts = {disp_len(line[:line.index(word)]) for line in lines for word in ("config", "dcgan-fmnist") if word in line}
    assert len(lines) == 3 and len(starts) == 1, lines


def test_a_run_being_trained_is_training(runs_folder, capsys):
    with RunLock(runs_folder / "done"):
        assert run_cli("runs", runs_folder / "done") == 0
    assert "training: a live process is writing it, at step 4 by its log" in capsys.readouterr().out
    assert run_cli("runs", runs_folder / "done") == 0  # the lock is gone with its holder
    assert "finished" in capsys.readouterr().out


def test_json_and_python_give_the_same_records(runs_folder, idx_root, tmp_path, capsys):
    assert run_cli("runs", runs_folder / "sweep", runs_folder / "killed", "--json", tmp_path / "r.json") == 0
    records = json.loads((tmp_path / "r.json").read_text())
    assert [(r["config"], r["state"], r["step"]) for r in records] == [("dcgan-fmnist", "finished", 2),
                                                                       ("dcgan-fmnist", "stopped", 4)]
    assert records[0]["settings"] == {"data.root": str(idx_root), "optim_g.lr": 0.001}  # the whole values
    assert records[1]["images"] == 4 * 128 and records[1]["seconds"] > 0
    # a run under two of the folders given is listed once
    assert run_cli("runs", runs_folder / "sweep", runs_folder / "sweep" / "lr_1", "--json", tmp_path / "r.json") == 0
    assert [r["path"] for r in json.loads((tmp_path / "r.json").read_text())] == [str(runs_folder / "sweep" / "lr_1")]
    in_python = ganforge.runs(runs_folder / "killed")
    assert in_python[0]["detail"] == "resume=True continues it"  # in Python's words
    assert {k: v for k, v in in_python[0].items() if k != "detail"} == \
        {k: v for k, v in records[1].items() if k != "detail"}


def test_a_run_whose_config_json_is_not_read_is_listed_with_the_others(runs_folder, tmp_path, capsys):
    """A config.json edited by hand (or another version's) is said on its row; it hid every run behind one error."""
    shutil.copytree(runs_folder / "done", tmp_path / "edited")
    shutil.copytree(runs_folder / "killed", tmp_path / "killed")
    stored = json.loads((tmp_path / "edited" / "config.json").read_text())
    stored["train"]["bogus"] = 1
    (tmp_path / "edited" / "config.json").write_text(json.dumps(stored))
    capsys.readouterr()
    assert run_cli("runs", tmp_path) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert len(rows) == 2 and "stopped: --resume continues it" in rows[1]
    assert rows[0].split()[:4] == [str(tmp_path / "edited"), "dcgan-fmnist", "-", "4"]  # no settings to compare
    assert "unreadable: its config.json: unknown config key 'train.bogus'  " in rows[0]  # not the valid keys after
    # one that is no longer JSON (a comma too many) was not listed at all, and --out called it another tool's
    shutil.copytree(runs_folder / "done", tmp_path / "broken")
    text = (tmp_path / "broken" / "config.json").read_text()
    (tmp_path / "broken" / "config.json").write_text(text.replace("{", "{,", 1))
    assert run_cli("runs", tmp_path) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert [row.split()[:2] for row in rows[:1]] == [[str(tmp_path / "broken"), "dcgan-fmnist"]]  # its checkpoint's name
    assert ("unreadable: its config.json is not JSON (line 1, column 2: Expecting property name enclosed in double "
            "quotes)") in rows[0]
    assert run_cli("train", "dcgan-fmnist", "--out", tmp_path / "broken") == 2
    assert "already holds a run (config.json, metrics.jsonl, sessions.jsonl, checkpoints" in capsys.readouterr().err
    shutil.rmtree(tmp_path / "broken")
    # and a bad --set on a resume names itself
    assert run_cli("train", "dcgan-fmnist", "--out", tmp_path / "killed", "--resume", "--set", "train.bogus=2") == 2
    assert capsys.readouterr().err.startswith("ganforge: error: --set train.bogus=2: unknown config key 'train.bogus'.")
    # a checkpoint whose stored config this ganforge does not read (another version's) is named
    payload = torch.load(tmp_path / "killed" / "checkpoints" / "step_0000004.pt", weights_only=False)
    payload["config"] = json.dumps({**json.loads(payload["config"]), "newer": {"key": 1}})
    torch.save(payload, tmp_path / "newer.pt")
    assert run_cli("sample", tmp_path / "newer.pt", "--out", tmp_path / "s.png") == 2
    assert capsys.readouterr().err.startswith(f"ganforge: error: the config stored in checkpoint '{tmp_path / 'newer.pt'}"
                                              "': unknown config key 'newer'.")


def test_a_run_inside_a_run_is_listed_or_refused(runs_folder, idx_root, tmp_path, capsys, monkeypatch):
    """A run beside a run's own files (RUN/finetune) is listed, and --force on the outer run leaves it; one
    inside its samples/ (or checkpoints/, tb/) is refused: it was not listed, and --force on the outer run
    deleted it with the grids."""
    base = Path(shutil.copytree(runs_folder / "done", tmp_path / "runs" / "base"))
    monkeypatch.chdir(tmp_path)
    assert run_cli("train", "dcgan-fmnist", "--out", base / "finetune", *tiny(idx_root, "train.max_steps=2")) == 0
    for out in (Path("runs/base/samples/x"), Path("runs/base/tb")):
        assert run_cli("train", "dcgan-fmnist", "--out", out, *tiny(idx_root, "train.max_steps=2")) == 2
        assert capsys.readouterr().err.startswith(
            f"ganforge: error: --out '{out}' is inside the {out.parts[2]}/ folder of the run 'runs/base', which that "
            f"run writes and deletes with --force. Choose a folder outside it, such as 'runs/{out.name}' (a run ")
    assert not (base / "samples" / "x").exists()
    for folder in ("runs", "runs/base"):
        assert run_cli("runs", folder) == 0
        rows = capsys.readouterr().out.splitlines()[1:]
        assert [row.split()[0] for row in rows] == ["runs/base", "runs/base/finetune"]
    assert run_cli("train", "dcgan-fmnist", "--out", base, "--force", *tiny(idx_root, "train.max_steps=2")) == 0
    assert ganforge.runs(base / "finetune")[0]["state"] == "finished"


def test_no_runs_and_a_missing_folder(tmp_path, capsys):
    (tmp_path / "runs").mkdir()
    assert run_cli("runs", tmp_path / "runs") == 0
    assert "ganforge: no runs under" in capsys.readouterr().err
    assert run_cli("runs", tmp_path / "rnus") == 2
    assert capsys.readouterr().err == (f"ganforge: error: '{tmp_path / 'rnus'}' does not exist; give the folder your "
                                       "runs are in (the --out of ganforge train, or the folder above them). Did you "
                                       f"mean '{tmp_path / 'runs'}'?\n")


def test_a_command_given_a_folder_of_runs_names_the_runs_in_it(runs_folder, tmp_path, capsys):
    """``sample runs`` said "run folder 'runs' has no checkpoints yet; train it first", and ``evaluate runs`` that
    it was no folder of images: neither said that the runs are one level down, nor which."""
    mine = tmp_path / "runs"  # four runs, each with a checkpoint (empty_start's grids are images to evaluate)
    for name in ("done", "evaluated", "killed", "sweep"):
        shutil.copytree(runs_folder / name, mine / name)
    first = ", ".join(f"'{mine / name}'" for name in ("done", "evaluated", "killed"))
    said = f"ganforge: error: '{mine}' holds run folders rather than being one: {first} and 1 more; give one of them.\n"
    capsys.readouterr()
    assert run_cli("sample", mine, "--num", "4", "--out", tmp_path / "g.png") == 2
    assert capsys.readouterr().err == said
    with pytest.warns(DataWarning, match="holds ganforge run folders"):  # evaluate read it as a folder of images
        assert run_cli("evaluate", mine, "--num", "8", "--metrics", "kid") == 2
    assert capsys.readouterr().err == said
    assert run_cli("sample", runs_folder / "sweep", "--out", tmp_path / "g.png") == 2
    assert capsys.readouterr().err == (f"ganforge: error: '{runs_folder / 'sweep'}' holds run folders rather than "
                                       f"being one: '{runs_folder / 'sweep' / 'lr_1'}'; give one of them.\n")
    # a run killed before its first checkpoint is one; a folder with another tool's config.json is none
    assert run_cli("sample", runs_folder / "empty_start", "--out", tmp_path / "g.png") == 2
    assert capsys.readouterr().err == (f"ganforge: error: run folder '{runs_folder / 'empty_start'}' has no "
                                       "checkpoints yet; train it first.\n")
    # sampled from a second terminal while it trains: "train it first" of a run being trained
    live = shutil.copytree(runs_folder / "empty_start", tmp_path / "live")
    with RunLock(live):
        assert run_cli("sample", live, "--out", tmp_path / "g.png") == 2
    assert capsys.readouterr().err == (f"ganforge: error: run folder '{live}' has no checkpoints yet: a live process "
                                       "is training it, and saves one every 4 steps (log.checkpoint_every_steps) "
                                       "and when it stops (Ctrl-C saves one). Try again then.\n")
    assert run_cli("sample", runs_folder / "notes", "--out", tmp_path / "g.png") == 2
    assert capsys.readouterr().err == (f"ganforge: error: '{runs_folder / 'notes'}' is not a run folder: it holds "
                                       "neither a ganforge config.json nor checkpoints; give a run folder (the --out "
                                       "of ganforge train) or a checkpoint file.\n")
    assert not (tmp_path / "g.png").exists()
    # and evaluate scores the images of a folder with another tool's config.json (it looked for a run's checkpoint)
    notes = tmp_path / "notes"
    shutil.copytree(runs_folder / "notes", notes)
    for out in (notes / "samples_of_done", tmp_path / "s.npy"):
        assert run_cli("sample", runs_folder / "done", "--num", 8, "--out", out) == 0
    with warnings.catch_warnings():  # kid_std of so few images
        warnings.simplefilter("ignore")
        assert run_cli("evaluate", notes, "--num", 8, "--metrics", "kid") == 0
        assert run_cli("evaluate", tmp_path / "s.npy", "--num", 8, "--metrics", "kid") == 0
    assert json.loads((notes / "evaluate.json").read_text())["kid"] == \
        json.loads((tmp_path / "s.eval.json").read_text())["kid"]  # the same 8 images, read from the folder


def test_a_file_of_a_run_that_is_no_checkpoint_says_what_it_is(runs_folder, tmp_path, capsys):
    """A grid, a config or a .npy given where a run goes was "damaged, truncated or not a checkpoint (it is not a
    PyTorch file)", as of a checkpoint gone bad; and evaluate of a grid, which is one image, said the same."""
    done = runs_folder / "done"
    grid = sorted((done / "samples").glob("step_*.png"))[-1]
    capsys.readouterr()
    for given, said in ((grid, f"'{grid}' is an image, not a checkpoint; give its run folder, '{done}'."),
                        (done / "config.json", f"'{done / 'config.json'}' is a JSON file, not a checkpoint; give its "
                                               f"run folder, '{done}'.")):
        assert run_cli("sample", given, "--num", 4, "--out", tmp_path / "g.png") == 2
        assert capsys.readouterr().err == f"ganforge: error: {said}\n"
    assert run_cli("sample", done, "--num", 4, "--out", tmp_path / "s.npy") == 0
    assert run_cli("export", tmp_path / "s.npy", "--out", tmp_path / "g.pt2") == 2
    assert capsys.readouterr().err.endswith(f"'{tmp_path / 's.npy'}' is an array of images, not a checkpoint; give a "
                                            "run folder (the --out of ganforge train) or a checkpoint file "
                                            "(RUN/checkpoints/last.pt).\n")
    onnx = tmp_path / "g.onnx"  # ganforge export's other format: it said "damaged, truncated or not a checkpoint"
    onnx.write_bytes(b"\x08\x0a")
    assert run_cli("sample", onnx, "--num", 4, "--out", tmp_path / "g.png") == 2
    assert capsys.readouterr().err.startswith(f"ganforge: error: '{onnx}' is a generator exported by ganforge export "
                                              "(ONNX runtimes read it: onnxruntime.InferenceSession(path)), not a "
                                              "checkpoint; give a run folder")
    assert run_cli("evaluate", grid, "--num", 8, "--metrics", "kid") == 2
    assert capsys.readouterr().err == (f"ganforge: error: '{grid}' is one image (a grid of samples is one too); "
                                       "evaluate scores a set of images: give a folder of them (ganforge sample --out "
                                       "FOLDER writes one PNG per image), a .npy of uint8 images, or a run folder.\n")
    assert not (tmp_path / "g.png").exists() and not (tmp_path / "g.pt2").exists()
