"""What a training job does with Accord, using only httpx and Polars: take a snapshot of a
project's labels, wait for it, download it, verify its SHA-256 against the manifest, load it.

    python scripts/train_example.py http://127.0.0.1:8000 "$ACCORD_TOKEN" demo-sentiment

The token needs the ``export:read`` scope (``accord tokens create --scope export:read ...``).
Exits non-zero, saying why, if anything does not match.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import time

import httpx
import polars as pl


def main(argv: list[str] | None = None) -> int:
    """Snapshot, verify, load; prints a summary of the training data."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url")
    parser.add_argument("token")
    parser.add_argument("project")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    headers = {"Authorization": f"Bearer {args.token}"}
    with httpx.Client(base_url=args.base_url, headers=headers, timeout=60) as client:
        created = client.post(
            f"/api/v1/projects/{args.project}/snapshots",
            json={"format": "parquet", "split": "train", "consensus": "adjudicated_then_majority"},
        )
        created.raise_for_status()
        job_id, snapshot_id = created.json()["job"]["id"], created.json()["snapshot"]["id"]
        deadline = time.monotonic() + args.timeout
        while True:
            job = client.get(f"/api/v1/jobs/{job_id}").raise_for_status().json()
            if job["status"] in ("done", "failed"):
                break
            if time.monotonic() > deadline:
                print(f"the snapshot job is still {job['status']}", file=sys.stderr)
                return 1
            time.sleep(0.2)
        if job["status"] != "done":
            print(f"the snapshot job failed: {job['error']}", file=sys.stderr)
            return 1
        manifest = client.get(f"/api/v1/snapshots/{snapshot_id}").raise_for_status().json()
        download = client.get(f"/api/v1/snapshots/{snapshot_id}/download").raise_for_status()
    digest = hashlib.sha256(download.content).hexdigest()
    if digest != manifest["sha256"] or digest != download.headers["x-accord-sha256"]:
        print(f"hash mismatch: got {digest}, manifest says {manifest['sha256']}", file=sys.stderr)
        return 1
    frame = pl.read_parquet(io.BytesIO(download.content))
    if frame.height != manifest["n_rows"]:
        print(f"{frame.height} rows, manifest says {manifest['n_rows']}", file=sys.stderr)
        return 1
    counts = frame.group_by("label").len().sort("label")
    print(f"snapshot {snapshot_id}: sha256 {digest} verified, {frame.height} rows")
    for label, n in counts.iter_rows():
        print(f"  {label}: {n}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
