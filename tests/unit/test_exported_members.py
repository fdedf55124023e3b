"""The public API: what `harness` exports is sorted, importable and nothing more."""

import harness


def test_all_is_sorted_and_importable():
    """Every name in __all__ resolves, and __all__ is sorted."""
    assert harness.__all__ == sorted(harness.__all__)
    for name in harness.__all__:
        assert getattr(harness, name) is not None, name


def test_exports_come_from_their_modules():
    """Each export is the object of the module that defines it (no copies)."""
    for name in harness.__all__:
        obj = getattr(harness, name)
        assert getattr(obj, "__name__", name) == name


def test_unknown_attribute_raises():
    """Unknown names are an AttributeError, not a silent None."""
    try:
        harness.nope  # noqa: B018
    except AttributeError as exc:
        assert "nope" in str(exc)
    else:
        raise AssertionError("harness.nope should not exist")


def test_all_matches_the_lazy_export_table():
    """__all__ lists exactly the names the lazy loader can resolve."""
    assert harness.__all__ == sorted(harness._EXPORTS)
