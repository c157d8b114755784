"""Pulumi entry point: everything lives in the ``components`` package."""

from pathlib import Path

from components.program import run

run(Path(__file__).resolve().parent)
