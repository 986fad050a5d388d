"""Near-identical answers: pairs of answer cells worth a human look, never a penalty.

Two answers are compared after normalisation, so that renaming variables, rewording comments,
reflowing whitespace or changing literal values hides nothing:

* the cell is parsed and unparsed (comments, docstrings and layout disappear);
* every name the answer binds (functions, arguments, locals) becomes ``v0, v1, …`` in order of
  first use; names it only reads (``np``, ``range``) and attributes (``.sum``) stay;
* every literal becomes ``CONST``.

Each normalised answer is cut into overlapping runs of ``K`` tokens (shingles).  What every
honest student writes anyway — the released scaffold, and any run that a sizeable part of the
class shares (``common``, the fraction of documents above which a run is no evidence) — is
dropped, as MOSS does.  A pair's score is the Jaccard similarity of the runs that remain, each
weighted by how exclusive it is: a run that only the two answers share counts fully, one that
``k`` answers share counts ``1/(k-1)``.  Two answers that share only what others write too,
next to runs of their own, score low; a copied answer scores near 1 with its source (and a
group that passes one answer round scores near 1 pairwise: each pair is listed).

Identical hand-ins are always listed, with score 1, however many students share the code:
rarity weighs the evidence of look-alikes, an identical copy needs none (three honest students
who write the reference's code would otherwise hide a fourth who copies one of them).  That is
byte-identical notebook files (:func:`identical_files`; the untouched release aside) and answers
identical to the character that are a few lines long (``IDENTICAL_SHINGLES``; a one-line formula
that many write the same way is no evidence).

Candidates come from an inverted index of the rare runs only, so the work grows with the number
of pairs that share something rare, not with the square of the class: a class of a thousand is
compared in seconds.  The reference library's functions join the index as documents of their
own, so an answer copied from the reference shows up as a pair with it.
"""

from __future__ import annotations

import ast
import hashlib
import io
import math
import re
import tokenize
from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

K = 6                 # tokens per shingle: long enough that a run says something about structure
THRESHOLD = 0.8       # pairs scoring at least this are listed
                      # (honest look-alikes in a generated class of 1,000 stay below 0.75)
COMMON = 0.05         # a run found in more than this fraction of the documents is no evidence
MIN_SHINGLES = 8      # answers with fewer rare runs than this are too short to compare
IDENTICAL_SHINGLES = 24  # an identical answer with this many runs besides the scaffold's is listed however common
REFERENCE = "reference:"  # prefix of the reference library's documents


@dataclass(frozen=True)
class Pair:
    """Two answers to one exercise that look alike after normalisation."""
    exercise: str
    a: str                 # a student id
    b: str                 # another student id, or ``reference:<module>.<function>``
    score: float           # weighted Jaccard of the rare runs, 0..1
    a_source: str
    b_source: str


class _Normalise(ast.NodeTransformer):
    """Rename what the code binds, blank out literals, drop docstrings."""

    def __init__(self):
        self.names: dict[str, str] = {}
        self.bound: set[str] = set()

    def _rename(self, name: str) -> str:
        if name not in self.bound:
            return name
        return self.names.setdefault(name, f"v{len(self.names)}")

    def _drop_docstring(self, node):
        body = getattr(node, "body", None)
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
        return node

    def visit_Module(self, node):
        return self.generic_visit(self._drop_docstring(node))

    def visit_FunctionDef(self, node):
        node.name = self._rename(node.name)
        return self.generic_visit(self._drop_docstring(node))

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):
        node.name = self._rename(node.name)
        return self.generic_visit(self._drop_docstring(node))

    def visit_arg(self, node):
        node.arg = self._rename(node.arg)
        node.annotation = None
        return node

    def visit_Name(self, node):
        node.id = self._rename(node.id)
        return node

    def visit_Constant(self, node):
        return ast.copy_location(ast.Name(id="CONST", ctx=ast.Load()), node)

    visit_JoinedStr = visit_Constant  # an f-string is a literal too


def _bound_names(tree: ast.AST) -> set[str]:
    """Names the code itself binds: definitions, arguments, assignment and loop targets."""
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
    return bound


def normalise(source: str) -> list[str]:
    """The answer as a list of tokens, blind to names, literals, comments and layout.

    Code that does not parse (a student's syntax error) is tokenised as text instead, with
    identifiers and literals blanked the same way, so it can still be compared."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return _tokens_of_text(source)
    renamer = _Normalise()
    renamer.bound = _bound_names(tree)
    text = ast.unparse(renamer.visit(tree))
    return _tokens_of_text(text, keep_names=True)


_WORD = re.compile(r"[A-Za-z_]\w*|\d[\w.]*|\S")


def _tokens_of_text(text: str, keep_names: bool = False) -> list[str]:
    tokens = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                            tokenize.DEDENT, tokenize.ENDMARKER):
                continue
            if tok.type in (tokenize.NUMBER, tokenize.STRING):
                tokens.append("CONST")
            elif tok.type == tokenize.NAME and not keep_names:
                tokens.append("NAME")
            else:
                tokens.append(tok.string)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        tokens = ["NAME" if t[0].isalpha() or t[0] == "_" else "CONST" if t[0].isdigit() else t
                  for t in _WORD.findall(re.sub(r"#.*", "", text))]
    return tokens


def shingles(tokens: list[str], k: int = K) -> set[str]:
    """Every run of ``k`` consecutive tokens (a shorter answer is one run)."""
    if len(tokens) <= k:
        return {" ".join(tokens)} if tokens else set()
    return {" ".join(tokens[i:i + k]) for i in range(len(tokens) - k + 1)}


def reference_functions(package_dir: Path) -> dict[str, str]:
    """``{"reference:<module>.<function>": source}`` for every top-level function in a package."""
    found = {}
    for path in sorted(Path(package_dir).glob("*.py")):
        source = path.read_text()
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                found[f"{REFERENCE}{path.stem}.{node.name}"] = ast.get_source_segment(source, node) or ""
    return found


def find_similar(answers: dict[str, dict[str, str]], *, reference: dict[str, str] | None = None,
                 scaffold: dict[str, str] | None = None, threshold: float = THRESHOLD,
                 common: float = COMMON, k: int = K, min_shingles: int = MIN_SHINGLES) -> list[Pair]:
    """Pairs of near-identical answers, best first.

    Inputs:
    - answers: {student: {exercise: answer cell source}}
    - reference: {document id: source} compared with every exercise (see reference_functions)
    - scaffold: {exercise: the released cell}; its runs are shared by everyone and ignored
    Returns:
    - pairs scoring at least ``threshold``, each exercise's pairs by descending score
    """
    exercises = sorted({ex for cells in answers.values() for ex in cells})
    reference = reference or {}
    ref_runs = {doc: shingles(normalise(src), k) for doc, src in reference.items()}
    pairs = []
    for exercise in exercises:
        blank = shingles(normalise((scaffold or {}).get(exercise, "")), k)
        docs = {student: shingles(normalise(cells[exercise]), k) - blank
                for student, cells in answers.items() if cells.get(exercise, "").strip()}
        docs.update({doc: runs - blank for doc, runs in ref_runs.items()})
        sources = {s: cells[exercise] for s, cells in answers.items() if s in docs}
        sources.update(reference)
        pairs += _pairs_of(exercise, docs, sources, threshold, common, min_shingles)
    return pairs


def _pairs_of(exercise, docs, sources, threshold, common, min_shingles) -> list[Pair]:
    students = sum(not d.startswith(REFERENCE) for d in docs)
    limit = max(2, math.floor(common * students))
    postings: dict[str, list[str]] = defaultdict(list)
    for doc, runs in docs.items():
        for run in runs:
            postings[run].append(doc)
    # a run only these two answers have is full evidence; one that k answers share counts
    # 1/(k-1): a cluster of look-alike honest answers is a common way of writing it, not a copy
    weight = {run: 1.0 / max(1, len(holders) - 1) for run, holders in postings.items()
              if len(holders) <= limit}
    # what each pair shares, summed over the postings of the rare runs: work grows with the
    # pairs that share something rare, never with the square of the class
    shared: dict[tuple[str, str], float] = defaultdict(float)
    for run, w in weight.items():
        for pair in combinations(sorted(postings[run]), 2):
            shared[pair] += w
    total = {doc: sum(weight.get(r, 0.0) for r in runs) for doc, runs in docs.items()}
    count = {doc: sum(r in weight for r in runs) for doc, runs in docs.items()}
    found = {}
    for (a, b), common_weight in shared.items():
        if min(count[a], count[b]) < min_shingles:
            continue
        score = common_weight / (total[a] + total[b] - common_weight)
        if score >= threshold:
            found[a, b] = score
    for group in _identical(docs, sources):
        found.update(dict.fromkeys(combinations(group, 2), 1.0))
    pairs = [_pair(exercise, a, b, score, sources) for (a, b), score in found.items()
             if not (a.startswith(REFERENCE) and b.startswith(REFERENCE))]
    return sorted(pairs, key=lambda p: (-p.score, p.a, p.b))


def _identical(docs, sources) -> list[list[str]]:
    """Groups (sorted) of two or more documents whose sources are identical and a few lines
    long (``IDENTICAL_SHINGLES`` runs besides the scaffold's)."""
    same: dict[str, list[str]] = defaultdict(list)
    for doc in sorted(docs):
        if len(docs[doc]) >= IDENTICAL_SHINGLES:
            same[sources[doc].strip()].append(doc)
    return [group for group in same.values() if len(group) > 1]


def _pair(exercise, a, b, score, sources) -> Pair:
    """The pair with the student first (a reference document is always ``b``)."""
    if a.startswith(REFERENCE):
        a, b = b, a
    return Pair(exercise, a, b, round(score, 3), sources[a], sources[b])


def identical_files(files: dict[str, dict[str, bytes]], released: dict[str, bytes]) -> list[Pair]:
    """Pairs of students who handed in byte-identical files ({student: {file name: bytes}}), the
    released files (``released``, handed back untouched) aside; ``exercise`` is the file's name."""
    same: dict[tuple[str, bytes], list[str]] = defaultdict(list)
    for student in sorted(files):
        for name, data in files[student].items():
            if data != released.get(name):
                same[name, data].append(student)
    pairs = []
    for (name, data), group in sorted(same.items()):
        said = f"{name}: byte-identical files ({len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:16]})"
        pairs += [Pair(name, a, b, 1.0, said, said) for a, b in combinations(group, 2)]
    return pairs
