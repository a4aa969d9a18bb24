"""The repository stands on its own: nothing in it points outside itself for its rules.

A user has only the repository, so no tracked file may refer to a design contract kept
elsewhere: docs live in docs/, history lives in git log.
"""

import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Spelled in pieces so this file does not match itself.
OUTSIDE_POINTERS = ("../" + "shared", "DESIGN" + " §")


def _tracked_files() -> list[pathlib.Path]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True,
                         capture_output=True).stdout
    return [ROOT / name for name in out.decode().split("\0") if name]


def pointers_outside(paths, root=ROOT) -> list[str]:
    """`path:line: text` for every line of a text file naming an outside pointer."""
    hits = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue  # binary or deleted in the working tree
        for n, line in enumerate(text.splitlines(), 1):
            if any(p in line for p in OUTSIDE_POINTERS):
                hits.append(f"{path.relative_to(root)}:{n}: {line.strip()}")
    return hits


def test_no_tracked_file_points_outside_the_repository():
    files = _tracked_files()
    assert len(files) > 50  # the listing really saw the tree
    assert pointers_outside(files) == []


def test_the_check_finds_a_pointer(tmp_path):
    bad = tmp_path / "notes.md"
    bad.write_text("fine\nsee " + OUTSIDE_POINTERS[1] + "4 for the fields\n")
    assert pointers_outside([bad], root=tmp_path) == [
        "notes.md:2: see " + OUTSIDE_POINTERS[1] + "4 for the fields"]


def docs_links_missing(paths, root=ROOT) -> list[str]:
    """`path: page` for every docs/ page a text file names that does not exist."""
    import re

    missing = set()
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue
        for ref in re.findall(r"\bdocs/[\w./-]+\.md\b", text):
            if not (root / ref).exists():
                missing.add(f"{path.relative_to(root)}: {ref}")
        if path.suffix == ".md":  # relative links of a Markdown page: [text](other.md)
            for ref in re.findall(r"\]\(([\w./-]+\.md)(?:#[\w-]*)?\)", text):
                if not (path.parent / ref).exists():
                    missing.add(f"{path.relative_to(root)}: {ref}")
    return sorted(missing)


def test_every_docs_page_named_exists():
    assert docs_links_missing(_tracked_files()) == []


def test_the_link_check_finds_a_missing_page(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "here.md").write_text("x")  # names spelled in pieces: see top
    bad = tmp_path / "a.py"
    bad.write_text("see " + "docs/" + "here.md and " + "docs/" + "gone.md\n")
    assert docs_links_missing([bad], root=tmp_path) == ["a.py: " + "docs/" + "gone.md"]


def commits_cited(paths, root=ROOT, repo=ROOT) -> list[str]:
    """`path: hash` for every word of a docs page that names a commit of this repository.

    A figure is described by what it is and the command that makes it; the history of
    how it was reached is in git log, not in the page.
    """
    import re

    words = {}
    for path in paths:
        for word in re.findall(r"\b[0-9a-f]{7,40}\b", path.read_text(encoding="utf-8")):
            if re.search(r"[a-f]", word) and re.search(r"\d", word):
                words.setdefault(word, set()).add(str(path.relative_to(root)))
    if not words:
        return []
    out = subprocess.run(["git", "cat-file", "--batch-check"], cwd=repo, check=True,
                         input="".join(f"{w}^{{commit}}\n" for w in words).encode(),
                         capture_output=True).stdout.decode().splitlines()
    return sorted(f"{p}: {w}" for w, line in zip(words, out) if not line.endswith("missing")
                  for p in words[w])


def test_no_docs_page_cites_a_commit():
    pages = sorted((ROOT / "docs").glob("**/*.md")) + [ROOT / "README.md"]
    assert commits_cited(pages) == []


def test_the_commit_check_finds_a_commit(tmp_path):
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout.strip()
    (tmp_path / "page.md").write_text(f"faster since {head}; sha256 deadbeef00 is no commit\n")
    assert commits_cited([tmp_path / "page.md"], root=tmp_path) == [f"page.md: {head}"]
