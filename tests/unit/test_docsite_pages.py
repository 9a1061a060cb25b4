"""docs/docsite/rst carries the guides generated from docs/*.md (tests/tools/docsite_pages.py): they must match."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
import docsite_pages as gen  # noqa: E402

PAGES = gen.guide_pages()
URL = "https://github.com/kubenode/ipvs_reuse"


def test_committed_pages_match_the_markdown():
    assert gen.main(["--check"]) == 0, "run python3 tests/tools/docsite_pages.py and commit docs/docsite/rst"


def test_every_guide_has_its_label_and_one_title():
    for name, text in ((os.path.basename(path)[:-4], text) for path, text in gen.render_all().items()):
        assert ".. _ansible_collections.kubenode.ipvs_reuse.docsite.%s:" % name in text
        lines = text.splitlines()
        titles = [lines[i - 1] for i in range(1, len(lines)) if set(lines[i]) == {"="} and lines[i - 1].strip()]
        assert len(titles) == 1, (name, titles)


def convert(markdown):
    return gen.convert(markdown, "page", ["page", "other"], URL)


def test_markup_is_converted_and_plain_text_escaped():
    text = convert("# T\n\nA `code`s **bold** *em* [other](other.md), [x](../roles/assess/README.md), "
                   "[y](https://example.org/) and a_ b|c *d\n")
    assert "``code``\\ s **bold** *em* :ref:`other <ansible_collections.kubenode.ipvs_reuse.docsite.other>`" in text
    assert "`x <%s/blob/main/roles/assess/README.md>`__" % URL in text
    assert "`y <https://example.org/>`__" in text
    assert "a\\_ b\\|c \\*d" in text


def test_lists_tables_and_code_keep_their_structure():
    text = convert("# T\n\n1. one\n   more\n   - nested\n2. two\n\n| a | b |\n|---|---|\n| `x` | y \\| z |\n\n"
                   "```yaml\nk: v\n```\n")
    assert "#. one\n   more\n\n   - nested\n\n#. two" in text
    assert ".. list-table::\n   :header-rows: 1\n\n   * - a\n     - b\n   * - ``x``\n     - y \\| z" in text
    assert ".. code-block:: yaml\n\n   k: v" in text


@pytest.mark.parametrize("markdown", ["# T\n\n> quoted\n", "# T\n\n<div>x</div>\n", "# T\n\n[ref]: https://x\n",
                                      "# T\n\n```\nopen\n", "# T\n\n| a |\n| b |\n", "# T\n\n# Again\n",
                                      "# T\n\n[x](../../outside.md)\n"])
def test_what_the_pages_do_not_carry_is_refused(markdown):
    with pytest.raises(gen.Unsupported):
        convert(markdown)
