"""``import syncdp``: what ``dir(syncdp)`` shows a newcomer exploring the package."""

from __future__ import annotations

import syncdp


def test_dir_shows_no_stray_module_level_imports() -> None:
    names = set(dir(syncdp))
    assert "annotations" not in names  # a ``from __future__`` import
    assert "logging" not in names


def test_every_public_name_is_importable_and_listed() -> None:
    # "@py_builtins"/"@pytest_ar": pytest's assertion rewriting, applied to syncdp's modules
    # because syncdp ships a pytest plugin; not identifiers, never importable names.
    public = {name for name in dir(syncdp) if not name.startswith(("_", "@"))}
    for name in syncdp.__all__:
        assert hasattr(syncdp, name), name
    # Whatever else dir() shows is a subpackage or module of syncdp, not a borrowed name.
    for name in public - set(syncdp.__all__):
        assert getattr(syncdp, name).__name__.startswith("syncdp."), name


def test_import_syncdp_leaves_http_and_asyncio_until_they_are_used() -> None:
    """A launched browser is reached without HTTP and most programs never run a coroutine
    callback: requests and asyncio (a third of the import's time) load when first used."""
    import subprocess
    import sys

    code = ("import sys, syncdp; "
            "print(sorted(m for m in ('requests', 'urllib3', 'asyncio') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
