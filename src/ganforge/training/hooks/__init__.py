"""Hooks: one file per concern, each with its own state_dict."""
from .base import Hook
from .checkpoint import Checkpointer
from .evaluate import Evaluator
from .health import HealthMonitor
from .logger import MetricsLogger
from .progress import ProgressBar
from .samples import SampleGrids
from .user import build_user_hooks

__all__ = ["Hook", "Checkpointer", "Evaluator", "HealthMonitor", "MetricsLogger", "ProgressBar", "SampleGrids",
           "build_user_hooks"]
