"""The README and docs/ pages against ``scripts/doc_examples.py`` (``make examples``): its hand-kept
lists hold exactly the commands the pages show, in their order, and the pages' links lead to
files that exist. Running the examples themselves is ``make examples`` (minutes, not a test)."""

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def load_script():
    spec = importlib.util.spec_from_file_location("doc_examples", ROOT / "scripts/doc_examples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


doc_examples = load_script()


@pytest.mark.parametrize("page", doc_examples.PAGES, ids=lambda page: page.path)
def test_the_script_lists_each_command_of_the_page_in_order(page):
    shown = doc_examples.documented_commands((ROOT / page.path).read_text(encoding="utf-8"))
    assert shown, f"{page.path} shows no command"
    assert doc_examples.listed_commands(page) == shown


def test_every_page_with_commands_is_listed():
    listed = {page.path for page in doc_examples.PAGES}
    with_commands = {
        path.relative_to(ROOT).as_posix()
        for path in PAGES
        if doc_examples.documented_commands(path.read_text(encoding="utf-8"))
    }
    assert with_commands <= listed, f"pages whose commands are not run: {with_commands - listed}"


def test_commands_are_read_from_command_blocks_only():
    text = """Some text with `gestes inline`.

```
gestes record --tracker sim:demo \\
              --out demo.igs.mha     # a comment
make   demo

```

```text
gestes exercise targeting: the output of a run
```

```python
print("not a command")
```
"""
    assert doc_examples.documented_commands(text) == [
        "gestes record --tracker sim:demo --out demo.igs.mha",
        "make demo",
    ]


@pytest.mark.parametrize("path", PAGES, ids=lambda path: path.name)
def test_relative_links_lead_to_files(path):
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text(encoding="utf-8"))
    local = [target for target in targets if "://" not in target]
    missing = [target for target in local if not (path.parent / target).exists()]
    assert not missing, f"{path.name} links to missing files: {missing}"
