"""Running the engine on many files: ``jobs`` (what an executor is given and
gives back), ``worker`` (one job in a worker process), ``pool`` (local worker
processes), ``dask_pool``/``dask_worker`` (a Dask cluster), ``priority`` (low
CPU and I/O priority) and ``native_stderr`` (decoders' stderr as notes).
"""
