"""Optional C extensions: import :data:`fastpath` from here (or use :mod:`smtpsniff.net.native`), and
take the Python path when it is None.

:data:`fastpath` is the compiled ``smtpsniff._native.fastpath`` when it imports and was built from
these sources (its ``INTERFACE`` is :data:`INTERFACE`), else None: a build left from other sources
(an editable install not rebuilt, ``python setup.py build_ext --inplace``) is not used, and the
Python code runs, with a warning that says how to rebuild it.
"""
from __future__ import annotations

import warnings
from types import ModuleType

#: The version of the interface between the Python code and fastpath.c (FASTPATH_INTERFACE there):
#: raised whenever a function or type of the extension changes what it takes or returns.
INTERFACE = 5

fastpath: ModuleType | None
try:
    from smtpsniff._native import fastpath
except ImportError:  # not compiled (no C compiler at install time): the Python path is used
    fastpath = None
else:
    if getattr(fastpath, "INTERFACE", None) != INTERFACE:
        warnings.warn(f"smtpsniff's C extension ({fastpath.__file__}) was built from other sources "
                      "and is not used; rebuild it with `pip install -e .` (or `python setup.py build_ext "
                      "--inplace`)", RuntimeWarning, stacklevel=2)
        fastpath = None
