"""A beets library of the label corpus, analysed from its cache, for the
report's screenshots and for trying the report on real music.

The label corpus (``corpora/labels_corpus.tsv`` on the corpus branch, audio
under ``/work/corpus``) was analysed once by ``corpora/cache_labels_corpus.py``
with the plugin's own decoder, features and ONNX backend (every patch, both
models). This imports its tracks into a new beets library (``beet import
-A -s``, files left in place), puts each track's song-level results (mean
over patches of the cached scores and embeddings, exactly what ``beet
musicnn`` stores) into the library's result store (an untagged track gets
its file name as title and its Debian package as artist and album), and
runs ``beet musicnn --rederive`` so that the plugin derives every field from
them.

    python tools/make_corpus_library.py FOLDER [--manifest M] [--corpus DIR]
    BEETSDIR=FOLDER beet musicnn-report
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))


def resolve(manifest_path: str, corpus: Path) -> Path:
    """The file a manifest path names (as the corpus branch's
    ``make_labels_corpus.resolve``: ``shared:``, ``repo:`` or the corpus)."""
    if manifest_path.startswith("shared:"):
        return REPO_ROOT.parent / "shared" / "audio" / manifest_path[len("shared:") :]
    if manifest_path.startswith("repo:"):
        return REPO_ROOT / manifest_path[len("repo:") :]
    return (corpus / manifest_path).resolve()


def beet(folder: Path, *args: str) -> None:
    env = {**os.environ, "BEETSDIR": str(folder), "PYTHONPATH": str(REPO_ROOT)}
    subprocess.run(
        [sys.executable, "-c", "import beets.ui; beets.ui.main()", *args],
        env=env,
        check=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument(
        "--manifest",
        type=Path,
        default=REPO_ROOT.parent / "wt-corpus" / "corpora" / "labels_corpus.tsv",
    )
    parser.add_argument("--corpus", type=Path, default=Path("/work/corpus"))
    args = parser.parse_args()
    folder = args.folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(
        f"directory: {folder / 'music'}\nlibrary: {folder / 'library.db'}\n"
        "plugins: musicnn\ncreate_backup_before_migrations: no\n"
        "import: {copy: no, write: no, quiet: yes, duplicate_action: keep}\n"
        "musicnn: {auto: no, models: [msd, mtt]}\n"
    )
    rows = list(csv.DictReader(args.manifest.open(), delimiter="\t"))
    cache, packages = {}, {}
    for row in rows:
        key = hashlib.sha1(row["path"].encode()).hexdigest()[:16]
        npz = args.corpus / "cache" / f"{key}.npz"
        if npz.exists():
            path = str(resolve(row["path"], args.corpus))
            cache[path] = npz
            packages[path] = row["package"]
    beet(folder, "import", "-A", "-s", *sorted(cache))

    from beets.library import Library

    from beetsplug.musicnn.labels import fields
    from beetsplug.musicnn.library.store import ResultStore, StoredResult

    lib = Library(str(folder / "library.db"), str(folder / "music"))
    version = fields.analysis_version(["msd", "mtt"])
    records = []
    for item in lib.items():
        path = os.fsdecode(item.filepath)
        if path not in cache:
            continue
        # Untagged game music: its file name and package say what it is.
        if not item.title:
            item.title = Path(path).stem.replace("_", " ")
        if not item.artist:
            item.artist = packages[path]
        if not item.album:
            item.album = packages[path]
        item.store()
        with np.load(cache[path]) as data:
            for model in ("msd", "mtt"):
                records.append(
                    StoredResult(
                        item_id=item.id,
                        model=model,
                        version=version,
                        scores=data[f"{model}_scores"].mean(axis=0),
                        embedding=np.asarray(
                            data[f"{model}_embeddings"], np.float32
                        ).mean(axis=0),
                        n_patches=int(data["n_patches"]),
                        duration=float(data["duration"]),
                        mtime=os.path.getmtime(path),
                        analyzed_at=time.time(),
                    )
                )
    with ResultStore.for_library(lib.path) as store:
        store.put_many(records)
    lib._close()
    beet(folder, "musicnn", "--rederive")
    print(f"{len(records) // 2} analysed tracks in {folder}")


if __name__ == "__main__":
    main()
