"""asktell: black-box and Bayesian optimization as a service."""

from asktell.strategies.base import Proposal, Strategy
from asktell.strategies.registry import get_strategy, register_strategy

__version__ = "0.1.0"

__all__ = ["Proposal", "Strategy", "__version__", "get_strategy", "register_strategy"]
