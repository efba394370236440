"""ganforge export: a run's generator as a .pt2 file that plain PyTorch runs without ganforge, or a .onnx file
that ONNX runtimes run without torch."""
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import torch

import ganforge
from ganforge.sampling import load_generator

from conftest import run_cli, tiny

PLUGIN = '''
from dataclasses import dataclass
import torch, torch.nn as nn
from ganforge.registry import GENERATORS

@dataclass(frozen=True)
class Opts:
    width: int = 8

@GENERATORS.register("{name}", Opts)
class G(nn.Module):
    """{doc}"""
    def __init__(self, opts, *, z_dim, channels, resolution):
        super().__init__()
        self.fc = nn.Linear(z_dim, channels * resolution * resolution)
        self.shape = (channels, resolution, resolution)

    def forward(self, z):
{forward}
'''
BRANCHY = PLUGIN.format(name="test-branchy", doc="Flips its output when the noise's mean is positive: a branch on "
                        "the input's values.", forward="""        x = torch.tanh(self.fc(z)).view(-1, *self.shape)
        return -x if z.mean() > 0 else x""")
SIZED = PLUGIN.format(name="test-sized", doc="Shapes its output with len(z), as a notebook's network may: len() "
                      "makes the batch a Python number.",
                      forward="        return torch.tanh(self.fc(z)).view(len(z), *self.shape)")
BESSEL = PLUGIN.format(name="test-bessel", doc="Uses a Bessel function, which torch.export records and torch.onnx "
                       "has no ONNX operator for.",
                       forward="        return torch.special.i0e(torch.tanh(self.fc(z))).view(-1, *self.shape) - 1")


@pytest.fixture(scope="module")
def four_steps(idx_root, tmp_path_factory):
    """A run of four steps whose EMA copy has moved away from G."""
    run = tmp_path_factory.mktemp("export") / "run"
    assert run_cli("train", "dcgan-fmnist", "--out", run, *tiny(idx_root, "train.max_steps=4", "ema.start_step=0")) == 0
    return run


def test_the_exported_generator_runs_without_ganforge(four_steps, tmp_path, capsys):
    run, out = four_steps, tmp_path / "g.pt2"
    capsys.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert run_cli("export", run, "--out", out) == 0
    # the run's conv weights are channels_last, which torch's saver warned about (harmless, on the CPU)
    assert [str(w.message) for w in caught] == []
    assert (f"ganforge: wrote {out}: G_ema of {run / 'checkpoints' / 'last.pt'} (step 4). In: noise float32 (N, 64) "
            "from N(0, 1). Out: float32 (N, 1, 28, 28) in [-1, 1].") in capsys.readouterr().out
    z = torch.randn(5, 64, generator=torch.Generator().manual_seed(1))
    G, _ = load_generator(run)
    with torch.no_grad():
        torch.save({"z": z, "want": G(z)}, tmp_path / "io.pt")
    # a fresh interpreter that never imports ganforge
    script = textwrap.dedent(f"""
        import json, sys, torch
        meta = {{"ganforge.json": ""}}
        g = torch.export.load({str(out)!r}, extra_files=meta).module()
        io = torch.load({str(tmp_path / 'io.pt')!r})
        assert torch.allclose(g(io["z"]), io["want"], atol=1e-6), "another output"
        assert g(torch.randn(17, 64)).shape == (17, 1, 28, 28)  # any batch
        # the conv weights as the run kept them (channels_last), where CPU sampling is faster
        convs = [p for p in g.parameters() if p.dim() == 4]
        assert convs and all(p.is_contiguous(memory_format=torch.channels_last) for p in convs)
        assert "ganforge" not in sys.modules
        print(json.loads(meta["ganforge.json"])["source"]["step"])
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "4"
    # --no-ema exports G, which differs from its EMA copy here
    assert run_cli("export", run, "--out", tmp_path / "raw.pt2", "--no-ema") == 0
    raw = torch.export.load(str(tmp_path / "raw.pt2")).module()
    assert not torch.allclose(raw(z), torch.load(tmp_path / "io.pt")["want"])


def test_conditional_and_super_resolution_generators(idx_root, tmp_path):
    cond = tmp_path / "cond"
    assert run_cli("train", "dcgan-fmnist", "--out", cond, *tiny(idx_root, "train.max_steps=2", "model.num_classes=10",
                                                                 "model.class_conditioning=batchnorm")) == 0
    info = ganforge.export(cond, tmp_path / "cond.pt2")
    assert info["num_classes"] == 10 and info["class_names"][9] == "Ankle boot"
    assert info["inputs"] == "noise float32 (N, 64) from N(0, 1), and classes int64 (N,) in [0, 10)"
    g = torch.export.load(str(tmp_path / "cond.pt2")).module()
    G, _ = load_generator(cond)
    z, y = torch.randn(3, 64), torch.tensor([0, 9, 4])
    with torch.no_grad():
        assert torch.allclose(g(z, y), G(z, y), atol=1e-6)
    sr = tmp_path / "sr"
    assert run_cli("train", "srcnn-x4", "--out", sr, *tiny(idx_root, "train.max_steps=2")) == 0
    info = ganforge.export(sr, tmp_path / "sr.pt2")
    assert info["scale"] == 4 and info["output"] == "float32 (N, 3, 4h, 4w) in [0, 1]"
    up = torch.export.load(str(tmp_path / "sr.pt2")).module()
    G, _ = load_generator(sr)
    lr = torch.rand(2, 3, 9, 13)  # another size than the export's example: height and width are free
    with torch.no_grad():
        assert torch.allclose(up(lr), G(lr), atol=1e-6) and up(lr).shape == (2, 3, 36, 52)
    # as ONNX: the inputs by name, and an SR generator's height and width free there too
    import onnxruntime

    ganforge.export(cond, tmp_path / "cond.onnx")
    session = onnxruntime.InferenceSession(str(tmp_path / "cond.onnx"))
    G, _ = load_generator(cond)
    with torch.no_grad():
        got = session.run(None, {"z": z.numpy(), "classes": y.numpy()})[0]
        assert np.allclose(got, G(z, y).numpy(), atol=1e-5)
    info = ganforge.export(sr, tmp_path / "sr.onnx")
    assert info["inputs"] == "an LR image batch, float32 (N, 3, h, w) in [0, 1] named 'lr'"
    session = onnxruntime.InferenceSession(str(tmp_path / "sr.onnx"))
    assert [(i.name, i.shape) for i in session.get_inputs()] == [("lr", ["batch", 3, "height", "width"])]
    G, _ = load_generator(sr)
    with torch.no_grad():
        assert np.allclose(session.run(None, {"lr": lr.numpy()})[0], G(lr).numpy(), atol=1e-5)


def test_an_onnx_file_runs_in_onnxruntime_without_ganforge_or_torch(four_steps, tmp_path, capsys):
    """``--out g.onnx``: the generator for ONNX runtimes (onnxruntime, TensorRT, a browser's onnxruntime-web)."""
    import onnx

    run, out = four_steps, tmp_path / "g.onnx"
    capsys.readouterr()
    assert run_cli("export", run, "--out", out) == 0
    opset = onnx.load(str(out)).opset_import[0].version  # torch.onnx's default (20 in torch 2.13)
    assert capsys.readouterr().out == (
        f"ganforge: wrote {out} (ONNX opset {opset}): G_ema of {run / 'checkpoints' / 'last.pt'} (step 4). In: noise "
        "float32 (N, 64) from N(0, 1) named 'z'. Out: float32 (N, 1, 28, 28) in [-1, 1]. Load it with "
        f"onnxruntime.InferenceSession('{out}'), or another ONNX runtime.\n")  # torch.onnx's progress lines and warnings are not shown
    z = torch.randn(5, 64, generator=torch.Generator().manual_seed(1))
    G, _ = load_generator(run)
    with torch.no_grad():
        np.save(tmp_path / "z.npy", z.numpy())
        np.save(tmp_path / "want.npy", G(z).numpy())
    # a fresh interpreter with onnxruntime and NumPy alone, as a deployment has them
    script = textwrap.dedent(f"""
        import json, sys
        import numpy as np, onnxruntime
        session = onnxruntime.InferenceSession({str(out)!r})
        z, want = np.load({str(tmp_path / 'z.npy')!r}), np.load({str(tmp_path / 'want.npy')!r})
        assert np.allclose(session.run(None, {{"z": z}})[0], want, atol=1e-5), "another output"
        assert session.run(["images"], {{"z": np.zeros((17, 64), np.float32)}})[0].shape == (17, 1, 28, 28)
        assert [(i.name, i.shape) for i in session.get_inputs()] == [("z", ["batch", 64])]
        assert "torch" not in sys.modules and "ganforge" not in sys.modules
        print(json.loads(session.get_modelmeta().custom_metadata_map["ganforge.json"])["source"]["step"])
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "4"


def test_an_onnx_file_at_the_opset_a_runtime_takes(four_steps, tmp_path, capsys):
    """--opset N, as torch.onnx.export(opset_version=N) and other exporters take it, for a runtime that reads
    opsets up to N (TensorRT 8.6 reads 17). torch.onnx falls back to opset 18 where its converter cannot reach N, and
    says nothing: that is refused, not written at another opset than asked."""
    import onnx
    import onnxruntime

    run, out = four_steps, tmp_path / "g17.onnx"
    capsys.readouterr()
    assert run_cli("export", run, "--out", out, "--opset", 17) == 0
    assert capsys.readouterr().out.startswith(f"ganforge: wrote {out} (ONNX opset 17): G_ema of ")
    model = onnx.load(str(out))
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 17)]
    z = torch.randn(3, 64, generator=torch.Generator().manual_seed(2))
    G, _ = load_generator(run)
    with torch.no_grad():
        want = G(z).numpy()
    got = onnxruntime.InferenceSession(str(out)).run(None, {"z": z.numpy()})[0]
    assert np.allclose(got, want, atol=1e-5)
    assert ganforge.export(run, tmp_path / "g18.onnx", opset=18)["opset"] == 18
    for args, said in ((["--out", tmp_path / "g13.onnx", "--opset", 13],
                        "torch.onnx wrote generator 'dcgan' of '{run}' at opset 18, not at the 13 asked (its "
                        "converter could not take it down); it was not written. Choose a later --opset."),
                       (["--out", tmp_path / "g.pt2", "--opset", 17],
                        "--opset is an ONNX operator set; a .pt2 file (torch.export's) has none. Name the file "
                        "'g.onnx' to write ONNX."),
                       (["--out", tmp_path / "g0.onnx", "--opset", -1], "--opset must be > 0 (leave it out for "
                                                                         "torch.onnx's default), got -1.")):
        assert run_cli("export", run, *args) == 2
        assert capsys.readouterr().err == f"ganforge: error: {said.format(run=run)}\n"
    assert not (tmp_path / "g13.onnx").exists() and not (tmp_path / "g.pt2").exists()


def test_onnx_without_its_packages_says_how_to_get_them(idx_root, tmp_path, monkeypatch, capsys):
    """onnx and onnxscript are an extra (ganforge[onnx]): without them torch.onnx raised ModuleNotFoundError after
    the trace, from deep inside torch."""
    run = tmp_path / "run"
    assert run_cli("train", "dcgan-fmnist", "--out", run, *tiny(idx_root, "train.max_steps=1")) == 0
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # as if not installed: importing it raises ImportError
    monkeypatch.setattr(torch.export, "export", lambda *a, **k: pytest.fail("traced before the packages were checked"))
    capsys.readouterr()
    assert run_cli("export", run, "--out", tmp_path / "g.onnx") == 2
    assert capsys.readouterr().err == ("ganforge: error: writing a .onnx file needs the packages onnx and onnxscript "
                                       "(onnxscript is not installed): pip install onnx onnxscript (ganforge's onnx "
                                       "extra). A .pt2 file needs neither.\n")
    assert not (tmp_path / "g.onnx").exists()


def trained_with(code: str, name: str, idx_root, tmp_path):
    """A one-step run of the generator ``name`` that the plugin ``code`` registers."""
    plugin, run = tmp_path / f"{name}.py", tmp_path / name
    plugin.write_text(code)
    assert run_cli("train", "dcgan-fmnist", "--out", run, *tiny(idx_root, "train.max_steps=1", f"plugins=['{plugin}']",
                                                                f"model.generator.name={name}")) == 0
    return run


def refused_in_one_line(run, out, capsys) -> str:
    """The error of exporting ``run`` to ``out``, which must fail in one line (not torch's pages of graph and next
    steps, nor its terminal colours) and write nothing."""
    capsys.readouterr()
    assert run_cli("export", run, "--out", out) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "\x1b" not in err and not out.exists()
    return err


def test_what_cannot_be_exported_is_a_one_line_error(idx_root, tmp_path, capsys):
    run = trained_with(BRANCHY, "test-branchy", idx_root, tmp_path)
    err = refused_in_one_line(run, tmp_path / "br.pt2", capsys)
    assert err.startswith(f"ganforge: error: generator 'test-branchy' of '{run}' cannot be exported: "
                          "GuardOnDataDependentSymNode: ")
    assert "a branch or loop that depends on the input's values cannot be recorded" in err
    assert run_cli("export", run, "--out", tmp_path / "g.pth") == 2
    assert capsys.readouterr().err == (f"ganforge: error: --out '{tmp_path / 'g.pth'}': an exported generator is a "
                                       ".pt2 file (torch.export's, for PyTorch) or a .onnx file (for onnxruntime and "
                                       "other ONNX runtimes); name it 'g.pt2' or 'g.onnx'.\n")


def test_an_out_that_cannot_be_written_is_refused_before_the_trace(idx_root, tmp_path, monkeypatch, capsys):
    """The trace takes seconds (minutes for a large G); a bad --out was found only when writing after it."""
    run = tmp_path / "run"
    assert run_cli("train", "dcgan-fmnist", "--out", run, *tiny(idx_root, "train.max_steps=2")) == 0
    (tmp_path / "blocker").write_text("a file, not a folder")
    monkeypatch.setattr(torch.export, "export", lambda *a, **k: pytest.fail("traced before --out was checked"))
    capsys.readouterr()
    assert run_cli("export", run, "--out", tmp_path / "blocker" / "g.pt2") == 2
    assert capsys.readouterr().err == (f"ganforge: error: cannot create the folder '{tmp_path / 'blocker'}': "
                                       f"'{tmp_path / 'blocker'}' is a file, not a folder. Choose a path in a folder "
                                       "you can write to.\n")


def test_an_operator_without_an_onnx_translation_is_named_in_one_line(idx_root, tmp_path, capsys):
    """torch.onnx's own error is a page of next steps in terminal colours; the operator is in its cause."""
    run = trained_with(BESSEL, "test-bessel", idx_root, tmp_path)
    err = refused_in_one_line(run, tmp_path / "g.onnx", capsys)
    assert err.startswith(f"ganforge: error: generator 'test-bessel' of '{run}' cannot be written as ONNX: "
                          "DispatchError: No ONNX function found for <OpOverload(op='prims.bessel_i0e'")
    assert err.endswith(". A .pt2 file (torch.export's) takes every operator torch has.\n")
    assert run_cli("export", run, "--out", tmp_path / "g.pt2") == 0


def test_a_forward_that_fixes_the_batch_exports_one_batch_size(idx_root, tmp_path, capsys):
    """.view(len(z), ...), as a notebook's network may have it: len() turns the batch into a Python number."""
    run = trained_with(SIZED, "test-sized", idx_root, tmp_path)
    capsys.readouterr()
    assert run_cli("export", run, "--out", tmp_path / "any.pt2") == 2
    assert ("turns the batch size into a Python number in its forward (len(z), int(z.shape[0]), a size from "
            ".tolist()), which fixes it, so it cannot be exported for any batch size. Use z.shape[0] or .view(-1, ...) "
            "there, or export one batch size: --batch N.\n") in capsys.readouterr().err
    info = ganforge.export(run, tmp_path / "four.pt2", batch=4)
    assert info["batch"] == 4 and info["inputs"] == "noise float32 (4, 64) from N(0, 1)"
    assert info["output"].startswith("float32 (4, 1, 28, 28) in [-1, 1]")
    g = torch.export.load(str(tmp_path / "four.pt2")).module()
    G, _ = load_generator(run)
    z = torch.randn(4, 64)
    with torch.no_grad():
        assert torch.allclose(g(z), G(z), atol=1e-6)
