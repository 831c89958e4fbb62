"""Commonly used pipeline modules (KM3Pipe's ``km3modules``): ``import km3flow.modules as km``."""

from . import common
from .common import Delete, Dump, Keep, MemoryObserver, ProgressBar, Siphon, StatusBar

__all__ = ["common", "Delete", "Dump", "Keep", "MemoryObserver", "ProgressBar", "Siphon",
           "StatusBar"]
