"""Working with the analysed sound: ``similarity`` (nearest embeddings),
``radio`` ("sounds like this"), ``catalog`` (labels of many items at once),
``families`` (clustering and naming), ``family_sets`` (families of a query,
their playlists), ``projection`` (the map's 2-D layout).
"""
