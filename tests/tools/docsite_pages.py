"""Generate the docsite's guide pages (docs/docsite/rst/*.rst) from the Markdown pages in docs/.

The Markdown pages are the ones people edit and read on GitHub; the Ansible docsite only takes reStructuredText
extra docs (docs/docsite/extra-docs.yml). This turns the subset of Markdown the pages use into RST: headings,
paragraphs, nested lists, fenced code, pipe tables, inline code, emphasis and links. Anything else (HTML blocks,
block quotes, reference-style links) is refused, so a page never reaches the site half converted.
Links between guide pages become :ref:s to the page labels; links to other files of the repository point at them
on GitHub (galaxy.yml's repository).

  python3 tests/tools/docsite_pages.py          # rewrite docs/docsite/rst/*.rst
  python3 tests/tools/docsite_pages.py --check  # exit 1 if a committed page differs

tests/unit/test_docsite_pages.py runs the check, so the two cannot drift apart.
"""
import argparse
import os
import posixpath
import re
import sys

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCSITE = os.path.join(REPO, "docs", "docsite")
LABEL = "ansible_collections.kubenode.ipvs_reuse.docsite.%s"
UNDERLINES = "=-~^"


class Unsupported(ValueError):
    pass


def guide_pages():
    """The page names listed in extra-docs.yml, each with a Markdown source docs/<name>.md."""
    with open(os.path.join(DOCSITE, "extra-docs.yml")) as handle:
        config = yaml.safe_load(handle)
    return [name for section in config["sections"] for name in section["toctree"]]


def repository_url():
    with open(os.path.join(REPO, "galaxy.yml")) as handle:
        return yaml.safe_load(handle)["repository"].rstrip("/")


_INLINE = re.compile(r"(?P<code>`+)(?P<code_text>.+?)(?P=code)"
                     r"|!?\[(?P<link_text>[^\]]+)\]\((?P<target>[^)\s]+)\)"
                     r"|\*\*(?P<bold>[^*]+)\*\*"
                     r"|(?<![\w*])\*(?P<em>[^*\s][^*]*?)\*(?![\w*])")


def _escape(text):
    """Plain text: protect the characters RST would read as markup."""
    text = text.replace("\\", "\\\\")
    text = re.sub(r"([*`|])", r"\\\1", text)
    return re.sub(r"(\w)_(?=\W|$)", r"\1\\_", text)


def _link(text, target, pages, source_dir, repo_url):
    if re.match(r"^[a-z]+://", target):
        return "`%s <%s>`__" % (text, target)
    path, _hash, anchor = target.partition("#")
    if not path:
        raise Unsupported("in-page link %r" % target)
    resolved = posixpath.normpath(posixpath.join(source_dir, path))
    name = posixpath.basename(resolved)[:-3] if resolved.endswith(".md") else None
    if name in pages and posixpath.dirname(resolved) == "docs" and not anchor:
        return ":ref:`%s <%s>`" % (text, LABEL % name)
    if resolved.startswith(".."):
        raise Unsupported("link outside the repository: %r" % target)
    return "`%s <%s/blob/main/%s%s>`__" % (text, repo_url, resolved, "#" + anchor if anchor else "")


def inline(text, pages, source_dir, repo_url):
    out, position = [], 0
    for match in _INLINE.finditer(text):
        out.append(_escape(text[position:match.start()]))
        if match.group("code"):
            markup = "``%s``" % match.group("code_text").strip()
        elif match.group("target"):
            markup = _link(match.group("link_text").replace("`", ""), match.group("target"), pages, source_dir,
                           repo_url)
        elif match.group("bold"):
            markup = "**%s**" % match.group("bold")
        else:
            markup = "*%s*" % match.group("em")
        # RST inline markup needs a space or punctuation on both sides: an escaped space separates it from a word
        if match.start() > 0 and re.match(r"\w", text[match.start() - 1]):
            markup = "\\ " + markup
        if match.end() < len(text) and re.match(r"\w", text[match.end()]):
            markup += "\\ "
        out.append(markup)
        position = match.end()
    out.append(_escape(text[position:]))
    return "".join(out)


def _table(rows, indent, convert):
    cells = [[cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", row.strip())[1:-1]] for row in rows]
    if len(cells) < 2 or not all(re.match(r"^:?-+:?$", cell) for cell in cells[1]):
        raise Unsupported("table without a header separator: %r" % rows[0])
    body = [cells[0]] + cells[2:]
    lines = [indent + ".. list-table::", indent + "   :header-rows: 1", ""]
    for row in body:
        if len(row) != len(cells[0]):
            raise Unsupported("table row with %d cells, header has %d: %r" % (len(row), len(cells[0]), row))
        for number, cell in enumerate(row):
            lines.append(indent + ("   * - " if number == 0 else "     - ") + (convert(cell) or "\\"))
    return lines + [""]


def convert(markdown, name, pages, repo_url):
    source_dir = "docs"

    def text(value):
        return inline(value, pages, source_dir, repo_url)

    lines = markdown.splitlines()
    out = ["..", "  Generated from docs/%s.md by tests/tools/docsite_pages.py: edit the Markdown page, then run the tool."
           % name, "", ".. _%s:" % (LABEL % name), ""]
    # open list items: (where their content starts in the Markdown, where it starts in the RST)
    index, items, titled, previous_blank = 0, [], False, True
    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        indent = len(line) - len(line.lstrip(" "))
        if not stripped:
            out.append("")
            previous_blank = True
            index += 1
            continue
        heading = re.match(r"^(#{1,4}) (.+)$", line)
        item = re.match(r"^(\s*)(- |\* |\d+\. )(.*)$", line)
        if item or previous_blank or heading:
            # a new item closes the items it is not nested in; after a blank line, so does outdented text
            while items and indent < items[-1][0]:
                items.pop()
        if heading:
            items = []
        rst_indent = " " * (items[-1][1] if items else 0)
        fence = re.match(r"^\s*```\s*([\w+-]*)\s*$", line)
        if heading:
            level = len(heading.group(1)) - 1
            if level == 0 and titled:
                raise Unsupported("second top-level heading: %r" % line)
            titled = True
            title = text(heading.group(2).strip())
            out += ["", title, UNDERLINES[level] * len(title), ""]
        elif fence:
            language = fence.group(1) or "text"
            language = {"sh": "shell", "bash": "shell", "yml": "yaml"}.get(language, language)
            out += ["", rst_indent + ".. code-block:: " + language, ""]
            index += 1
            while index < len(lines) and not re.match(r"^\s*```\s*$", lines[index]):
                body = lines[index][indent:] if lines[index][:indent].strip() == "" else lines[index].lstrip()
                out.append((rst_indent + "   " + body).rstrip())
                index += 1
            if index == len(lines):
                raise Unsupported("unterminated code fence")
            out.append("")
        elif stripped.startswith("|"):
            rows = []
            while index < len(lines) and lines[index].strip().startswith("|"):
                rows.append(lines[index])
                index += 1
            out += [""] + _table(rows, rst_indent, text)
            previous_blank = False
            continue
        elif item:
            rst_marker = "#. " if item.group(2)[0].isdigit() else "- "
            out += ["", rst_indent + rst_marker + text(item.group(3))]
            items.append((indent + len(item.group(2)), len(rst_indent) + len(rst_marker)))
        elif re.match(r"^<!--.*-->$", stripped):
            pass  # a one-line comment (the generated-section markers) stays out of the page
        elif stripped.startswith((">", "<!--", "<div", "<table", "<details")) or re.match(r"^\[[^\]]+\]:", stripped):
            raise Unsupported("construct the docsite pages do not carry: %r" % line)
        elif re.match(r"^!\[[^\]]*\]\([^)]+\)$", stripped):
            out += ["", rst_indent + "See " + text(stripped[1:]) + ".", ""]
        else:
            out.append(rst_indent + text(stripped))
        previous_blank = False
        index += 1
    # one blank line between blocks, none at the end
    result = "\n".join(out)
    result = re.sub(r"\n{3,}", "\n\n", result).strip("\n") + "\n"
    return result


def render_all():
    pages = guide_pages()
    repo_url = repository_url()
    rendered = {}
    for name in pages:
        with open(os.path.join(REPO, "docs", name + ".md")) as handle:
            markdown = handle.read()
        try:
            rendered[os.path.join(DOCSITE, "rst", name + ".rst")] = convert(markdown, name, pages, repo_url)
        except Unsupported as error:
            raise SystemExit("docs/%s.md: %s" % (name, error))
    return rendered


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a committed page differs")
    args = parser.parse_args(argv)
    stale = []
    rendered = render_all()
    directory = os.path.join(DOCSITE, "rst")
    extra = sorted(set(os.listdir(directory)) - set(os.path.basename(path) for path in rendered)) \
        if os.path.isdir(directory) else []
    for path, content in sorted(rendered.items()):
        current = open(path).read() if os.path.exists(path) else None
        if current != content:
            stale.append(os.path.relpath(path, REPO))
            if not args.check:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w") as handle:
                    handle.write(content)
    if args.check and (stale or extra):
        sys.stderr.write("docs/docsite/rst is out of date (%s); not listed in extra-docs.yml: %s. "
                         "Run python3 tests/tools/docsite_pages.py\n" % (", ".join(stale) or "-", ", ".join(extra) or "-"))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
