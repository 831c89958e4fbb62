"""The pipeline core: Pipeline, Module, Pump, Blob (standard library and numpy only)."""

from .blob import Blob
from .module import Module, Pump, Services
from .pipeline import Pipeline

__all__ = ["Blob", "Module", "Pump", "Pipeline", "Services"]
