"""The pipeline core: Pipeline, Module, Pump, Blob, Parameter, Executor (stdlib and numpy only)."""

from .blob import Blob
from .config import Parameter
from .executor import Executor, SerialExecutor
from .module import Module, Pump, Services
from .pipeline import Pipeline

__all__ = ["Blob", "Executor", "Module", "Parameter", "Pump", "Pipeline", "SerialExecutor",
           "Services"]
