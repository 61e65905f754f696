"""Build hook for the optional C fast path (smtpsniff/_native/fastpath.c); everything else is in pyproject.toml.

``optional=True``: where no C compiler is available the build warns and goes on, and smtpsniff uses its
pure-Python reader and decoder (see smtpsniff/net/native.py).
"""
from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "smtpsniff._native.fastpath",
            ["smtpsniff/_native/fastpath.c"],
            optional=True,
            extra_compile_args=["-O2"],
        )
    ]
)
