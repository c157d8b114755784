"""Benchmark: validate and render a registries.yaml with 1,000 mirrors, configs and rewrites.

Run it from the repository root with ``PYTHONPATH=. .venv/bin/python bench/bench_render.py``.
It prints the median time of several runs of load_registries_text followed by
render on the same text, with the endpoint and pattern caches emptied before
each run.
"""

from __future__ import annotations

import argparse
import statistics
import time

from components.hosts import parse_endpoint
from components.render import render
from components.rewrite import compile_pattern
from components.validate import load_registries_text


def generate(mirrors: int) -> str:
    """Write registries.yaml text with ``mirrors`` mirrors, each with its own configs entry."""
    lines = ["mirrors:"]
    for index in range(mirrors):
        lines += [
            f"  registry{index}.example.test:",
            "    endpoint:",
            f"      - https://mirror{index}.example.test:5000",
            f"      - https://backup{index}.example.test",
            "    rewrite:",
            f'      "^team{index}/(.*)": "mirrored/team{index}/$1"',
            '      "^library/(?P<name>[a-z0-9._-]+)$": "hub/library/${name}"',
        ]
    lines.append("configs:")
    for index in range(mirrors):
        lines += [
            f"  mirror{index}.example.test:5000:",
            "    auth:",
            f"      username: robot{index}",
            f"      password: 'p@ss:w0rd #{index}'",
            "    tls:",
            f"      ca_file: /etc/rancher/k3s/certs/mirror{index}.crt",
            f"  backup{index}.example.test:",
            "    tls:",
            f"      cert_file: /etc/rancher/k3s/certs/client{index}.crt",
            f"      key_file: /etc/rancher/k3s/certs/client{index}.key",
        ]
    return "\n".join(lines) + "\n"


def clear_caches() -> None:
    """Empty the per-process caches so that every run parses endpoints and compiles patterns."""
    parse_endpoint.cache_clear()
    compile_pattern.cache_clear()


def validate_and_render(text: str) -> str:
    registries, warnings = load_registries_text(text, "bench.yaml")
    if warnings:
        raise RuntimeError(f"the generated file has {len(warnings)} warnings")
    return render(registries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mirrors", type=int, default=1000, help="number of mirrors (default 1000)"
    )
    parser.add_argument("--runs", type=int, default=7, help="timed runs (default 7)")
    args = parser.parse_args()

    text = generate(args.mirrors)
    validate_and_render(text)  # warm up caches and imports outside the timing
    timings = []
    for _ in range(args.runs):
        clear_caches()
        start = time.perf_counter()
        output = validate_and_render(text)
        timings.append(time.perf_counter() - start)

    median = statistics.median(timings)
    sizes = f"{len(text)} bytes in, {len(output)} bytes out"
    spread = f"min {min(timings):.3f} s, max {max(timings):.3f} s"
    print(
        f"validate + render, {args.mirrors} mirrors, {sizes}: "
        f"median {median:.3f} s over {args.runs} runs ({spread})"
    )


if __name__ == "__main__":
    main()
