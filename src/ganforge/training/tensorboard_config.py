"""The run's config in TensorBoard, beside its scalars and grids.

The TEXT tab shows the config whole, as TOML (as MMEngine's TensorBoard backend shows its config), and
the HPARAMS tab lists the runs under ``tensorboard --logdir`` with their config keys beside their
figures, to sort and filter runs by a learning rate or a loss. Only the session-start record of the
hparams plugin is written: TensorBoard finds the keys in it and takes every scalar the run logs
(``train/loss_d``, ``eval/fid``, ...) as a metric, so no list of figures is made up front. Each session
(a resume too) writes both; the TEXT tab keeps each at its step, and HPARAMS shows the first, the config
the run started with.
"""
from __future__ import annotations

import json
import time
from typing import Any

from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.plugins.hparams import metadata, plugin_data_pb2
from torch.utils.tensorboard import SummaryWriter

from ..config import DATA_SOURCE_KEYS, Config, flat_values

# where a run writes and what a config says of itself, not how it trains: left out of the HPARAMS columns
NOT_HYPERPARAMETERS = ("log.", "health.", "description", "notes", *DATA_SOURCE_KEYS)

HyperparameterValue = bool | int | float | str


def hyperparameters(values: dict[str, Any]) -> dict[str, HyperparameterValue]:
    """A config's values (``Config.to_dict()``) as flat ``section.key`` columns: a network's options key by
    key, and a list (betas, plugins) as its JSON, for the plugin takes numbers, strings and booleans only."""
    return {key: value if isinstance(value, (bool, int, float, str)) else json.dumps(value)
            for key, value in flat_values(values).items() if not key.startswith(NOT_HYPERPARAMETERS)}


def write_config(writer: SummaryWriter, cfg: Config, step: int) -> None:
    """The config as the ``config`` text at ``step`` and as the session's hparams."""
    import tomli_w

    values = cfg.to_dict()
    text = tomli_w.dumps(values)
    # indented four spaces: a code block in TensorBoard's Markdown, which would run the lines together
    writer.add_text("config", "".join(f"    {line}\n" for line in text.splitlines()), step)
    # the plugin's own record, built with its protobufs: torch's add_hparams would write it into a run folder of
    # its own, and its hparams() stores booleans as the numbers 0 and 1
    start = plugin_data_pb2.SessionStartInfo(start_time_secs=time.time())
    for key, value in hyperparameters(values).items():
        kind = "bool" if isinstance(value, bool) else "string" if isinstance(value, str) else "number"
        setattr(start.hparams[key], f"{kind}_value", value)
    record = metadata.create_summary_metadata(plugin_data_pb2.HParamsPluginData(session_start_info=start))
    writer.file_writer.add_summary(Summary(value=[Summary.Value(tag=metadata.SESSION_START_INFO_TAG, metadata=record,
                                                                tensor=metadata.NULL_TENSOR)]))
