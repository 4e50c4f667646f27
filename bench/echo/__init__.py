"""Side-by-side echo benchmark: wirespeed against picows, websockets, aiohttp,
websocket-client and a raw TCP ceiling.

The driver (``bench/bench_echo.py``) starts one *server* child and one *client*
child per measurement (``python -m echo.child ...``), pins both to the same CPU,
and collects one JSON result line from the client. Each library lives in its own
module of this package and exposes the same small interface (see ``registry``).
"""
