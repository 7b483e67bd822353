"""Running a sweep's shards: in this process, or on Dask workers (optional).

- :mod:`viewer.cluster.shards`: the output folder's finished shards (resume).
- :mod:`viewer.cluster.run`: the shard loop, in-process or on a Dask client,
  with progress, time left and cancel.
- :mod:`viewer.cluster.dask_client`: ``local:N`` and ``tcp://HOST:PORT``
  addresses to a Dask client; the only module that imports Dask, and only
  when a sweep asks for a cluster (requirements-cluster.txt).
"""
