"""The optional native fast path (``monoceros.http._speedups``): built when a C compiler and the Python
headers are there, skipped with a warning when they are not (``optional``: an install never fails for want
of a compiler; the pure-Python parser is then used). Everything else is declared in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "monoceros.http._speedups",
            sources=["src/monoceros/http/_speedups.c", "src/monoceros/http/_speedups_writer.c"],
            depends=["src/monoceros/http/_speedups.h"],
            optional=True,
            extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
        )
    ]
)
