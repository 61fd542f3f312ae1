"""Simulated crashes at the write steps that make artifacts durable, shared by the fault tests."""

from __future__ import annotations

import os
from pathlib import Path


class Crash(Exception):
    """Stands in for the process dying at a write step."""


def count_write_steps(monkeypatch, crash_at: int | None) -> list[str]:
    """Count the calls that make a write durable (``os.replace``, ``os.rename``); raise ``Crash`` at step ``crash_at``."""
    steps: list[str] = []

    def wrap(real):
        def call(src, dst, *args, **kwargs):
            steps.append(Path(dst).name)
            if crash_at is not None and len(steps) == crash_at:
                raise Crash(f"step {crash_at}: {Path(dst).name}")
            return real(src, dst, *args, **kwargs)

        return call

    monkeypatch.setattr(os, "replace", wrap(os.replace))
    monkeypatch.setattr(os, "rename", wrap(os.rename))
    return steps
