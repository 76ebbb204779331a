#!/usr/bin/env python3
"""The recording table of BENCHMARKS.md from criterion's estimates of the `record` bench.

    python3 crates/promhttp-bench/report.py [CRITERION_DIR]

CRITERION_DIR defaults to $CARGO_TARGET_DIR/criterion (or target/criterion). Prints one
markdown row per benchmark row and thread count: the median ns per operation of every
library, and promhttp's median over the best peer's (below 1: promhttp is faster). A
promhttp-only row (`labelled_owned`) is shown beside the peers of the row it varies.
"""

import json
import os
import sys
from pathlib import Path

LIBRARIES = ["promhttp", "prometheus", "prometheus-client", "metrics-rs", "measured", "fastmetrics"]
ROWS = ["counter_inc", "labelled_inc", "labelled_owned", "hist_classic", "hist_native", "hist_dual", "gauge_set"]
# Rows measured for promhttp only, compared with the peers of another row.
PEERS_OF = {"labelled_owned": "labelled_inc"}


def main() -> None:
    default = Path(os.environ.get("CARGO_TARGET_DIR", "target")) / "criterion"
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    medians: dict[tuple[str, str, str], float] = {}
    for bench in root.glob("*/new/benchmark.json"):
        full_id = json.loads(bench.read_text())["full_id"]
        parts = full_id.split("/")
        if len(parts) != 3 or parts[0] not in ROWS:
            continue
        estimates = json.loads((bench.parent / "estimates.json").read_text())
        medians[tuple(parts)] = estimates["median"]["point_estimate"]

    print("| row | threads | " + " | ".join(LIBRARIES) + " | promhttp / best peer |")
    print("| --- | --- | " + " | ".join("---:" for _ in LIBRARIES) + " | ---: |")
    for row in ROWS:
        for threads in ("1t", "2t"):
            peer_row = PEERS_OF.get(row, row)
            got = {lib: medians.get((peer_row, threads, lib)) for lib in LIBRARIES}
            got["promhttp"] = medians.get((row, threads, "promhttp"))
            if got["promhttp"] is None:
                continue
            peers = {lib: ns for lib, ns in got.items() if lib != "promhttp" and ns is not None}
            best = min(peers, key=peers.get)
            cells = []
            for lib in LIBRARIES:
                ns = got[lib]
                cell = "–" if ns is None else f"{ns:.1f}"
                cells.append(f"**{cell}**" if lib == best else cell)
            ratio = got["promhttp"] / peers[best]
            print(f"| {row} | {threads[0]} | " + " | ".join(cells) + f" | {ratio:.2f} ({best}) |")


if __name__ == "__main__":
    main()
