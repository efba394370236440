"""``model.init_from``: a new run's networks start from another run's weights (seed 004's
``init_weights(pretrained=...)``).

The common uses: SRGAN's generator starts from a run of the same network trained on pixel losses alone
(``srgan-x4`` from ``msrresnet-x4``), and a GAN fine-tunes on new data from one trained on other data. Only
the weights come over, the EMA copy's included (as StyleGAN2-ADA's ``--resume`` and MMagic's ``load_from``
take it); the optimizers, the step and the data order start afresh, as in a new run. A resume continues its
own checkpoint and never reads ``init_from`` again.
"""
from __future__ import annotations

import sys

import torch

from ..errors import GanforgeError
from . import checkpoint as ckpt


def load_initial_weights(G: torch.nn.Module, D: torch.nn.Module | None, source: str, strict: bool,
                         speak: bool = True, G_ema: torch.nn.Module | None = None) -> None:
    """Load ``source``'s (a run folder or checkpoint) G, D and EMA copy into ``G``, ``D`` and ``G_ema``.
    ``strict``: every tensor must fit, else an error names the first that does not; otherwise the tensors whose
    names and shapes fit are loaded and the others named. A D the source lacks (a run trained on pixel losses)
    starts from its own initialization, and an EMA copy it lacks (EMA off there) as a copy of the loaded G, as
    ``G_ema`` is given. ``speak``: say what was loaded (rank 0)."""
    try:
        payload, path = ckpt.resolve(source)
    except GanforgeError as e:
        raise GanforgeError(f"model.init_from: {e}") from None
    said = [f"G from {path} (step {payload['state']['step']})"]
    for name, net in (("G", G), ("D", D), ("G_ema", G_ema)):
        if net is None:
            continue
        if name not in payload:
            if name == "D":
                said.append(f"D from its own initialization ('{source}' has no D)")
            else:  # EMA was off there
                net.load_state_dict(G.state_dict())
                said.append("the EMA copy from that G (it has no EMA copy)")
            continue
        load = _load_all if strict else _load_fitting
        skipped = load(net, payload[name], name, source)
        if name != "G":
            said.append(f"{'D' if name == 'D' else 'the EMA copy'} from the same")
        if skipped:
            said.append(f"{len(skipped)} of {name}'s tensors kept their initialization, not fitting: "
                        f"{', '.join(skipped[:4])}{', ...' if len(skipped) > 4 else ''}")
    if speak:
        print(f"ganforge: starting {'; '.join(said)}.", file=sys.stderr)


def _load_all(net: torch.nn.Module, state: dict, name: str, source: str) -> list[str]:
    """Load every tensor of ``state`` into ``net``, or refuse naming the first that does not fit; none is skipped."""
    try:
        net.load_state_dict(state)
    except RuntimeError as e:
        raise GanforgeError(f"model.init_from '{source}': its {name} does not fit this run's "
                            f"({ckpt.misfit_detail(e).rstrip('.')}). Give a run of the same network, or set "
                            "model.init_strict=false to load the tensors that fit and keep the others' "
                            "initialization.") from None
    return []


def _load_fitting(net: torch.nn.Module, state: dict, name: str, source: str) -> list[str]:
    """Load the tensors of ``state`` whose names and shapes are ``net``'s; return the names of ``net``'s others."""
    own = net.state_dict()
    fitting = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not fitting:
        raise GanforgeError(f"model.init_from '{source}': none of its {name}'s tensors fits this run's {name} "
                            "(another network?); nothing would be loaded. Give a run of a similar network.")
    net.load_state_dict(fitting, strict=False)
    return [f"{k} {tuple(own[k].shape)}" + (f" (its {tuple(state[k].shape)})" if k in state else "")
            for k in own if k not in fitting]
