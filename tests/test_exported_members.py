"""The public API: what ``import digest`` promises (the CLI, the daemon and the web app use it)."""

from __future__ import annotations

import digest


def test_every_exported_name_is_there() -> None:
    for name in digest.__all__:
        assert getattr(digest, name) is not None, name


def test_every_user_facing_error_is_exported_under_the_root() -> None:
    import inspect

    from digest import errors

    classes = {name for name, value in inspect.getmembers(errors, inspect.isclass)
               if issubclass(value, errors.DigestError)}
    assert classes <= set(digest.__all__)


def test_the_factory_builds_the_library_api_from_settings() -> None:
    app = digest.make_digest(digest.Settings())
    assert isinstance(app, digest.Digest)
