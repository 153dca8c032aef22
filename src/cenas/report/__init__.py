"""Figures and the HTML report of a study, read from its SQLite database."""

from __future__ import annotations

from cenas.report._study import write_report

__all__ = ["write_report"]
