"""The tour's HTML page in headless Chromium, opened from file:// with the network refused:
it loads without console errors, shows every figure, and the explorer's output size follows
its sliders, agreeing with convpool.output_size (and saying so when the kernel does not fit)."""

import re

import pytest
from browser import open_page

import convpool
from convpool.viz import tour


@pytest.fixture(scope="module")
def page_path(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tour-page")
    return tour.run_tour(None, str(folder / "tour"), log=lambda line: None).page


@pytest.fixture(scope="module")
def page(page_path):
    with open_page(page_path) as page:
        yield page


def _set(page, name: str, value: int) -> None:
    page.fill(f"#ex-{name}", str(value))  # a range input takes fill() and fires input


def _shown_size(page) -> int | None:
    text = page.inner_text("#explorer-output")
    match = re.match(r"Output: (\d+) × (\d+)", text)
    return int(match[1]) if match else None


def test_the_page_loads_offline_without_console_errors_and_shows_every_figure(page):
    assert page.console_errors == []
    widths = page.evaluate("[...document.images].map(image => image.complete ? image.naturalWidth : 0)")
    assert len(widths) == len(tour.FILES)
    assert all(width > 0 for width in widths), widths
    assert page.title() == "Convolution and pooling, step by step"
    for step in range(1, 9):
        assert page.locator(f"#step-{step}").is_visible()


def test_the_explorer_output_changes_when_a_slider_moves(page):
    before = page.inner_text("#explorer-output")
    page.focus("#ex-stride")
    page.keyboard.press("ArrowRight")  # as a person would move it
    after = page.inner_text("#explorer-output")
    assert after != before
    assert page.inner_text("#ex-stride-value") == page.input_value("#ex-stride")
    assert page.console_errors == []


@pytest.mark.parametrize("size, kernel, stride, padding, dilation, ceil", [
    (7, 3, 1, 0, 1, False), (7, 3, 3, 0, 1, False), (16, 3, 3, 0, 1, True), (5, 2, 2, 1, 1, True),
    (9, 3, 2, 1, 2, False), (2, 5, 1, 0, 1, False), (1, 7, 5, 3, 3, True),
])
def test_the_explorer_shows_what_output_size_says(page, size, kernel, stride, padding, dilation, ceil):
    for name, value in [("size", size), ("kernel", kernel), ("stride", stride), ("padding", padding),
                        ("dilation", dilation)]:
        _set(page, name, value)
    page.set_checked("#ex-ceil", ceil)
    try:
        expected = convpool.output_size(size, kernel, stride=stride, padding=padding, dilation=dilation,
                                        ceil_mode=ceil)
    except ValueError:
        assert _shown_size(page) is None
        assert "the kernel does not fit" in page.inner_text("#explorer-output")
    else:
        assert _shown_size(page) == expected
        assert page.inner_text("#explorer-formula").endswith(f"= {expected}") or "right padding" in \
            page.inner_text("#explorer-formula")
    assert page.console_errors == []
