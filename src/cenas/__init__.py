"""cenas: carbon-efficient neural architecture search.

Implements CE-NAS (Zhao, Liu, Jiang, Guo, "CE-NAS: An End-to-End Carbon-Efficient Neural
Architecture Search Framework", NeurIPS 2024) as a framework: carbon traces and forecasts,
tabular NAS tasks, LaMOO, a carbon-aware allocation engine and learned policies.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
