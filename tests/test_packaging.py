"""The package lists stay in step: the two distributions' (lib/pyproject.toml, the course library;
pyproject.toml, the grader) for pip, environment.yml for conda; the grader needs the library of
its own version, and the library needs nothing of the grader's."""

import re
import tomllib

import yaml

from conftest import REPO


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


LIBRARY, GRADER = REPO / "lib" / "pyproject.toml", REPO / "pyproject.toml"


def _project(path):
    return tomllib.loads(path.read_text())["project"]


def test_environment_yml_mirrors_both_pyprojects():
    ours = {_project(LIBRARY)["name"], _project(GRADER)["name"]}
    pip_side = set()
    for path in (LIBRARY, GRADER):
        project = _project(path)
        pip_side |= {_name(r) for r in project["dependencies"]}
        for extra in project.get("optional-dependencies", {}).values():
            pip_side |= {_name(r) for r in extra}
    pip_side -= ours
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    conda_side = {_name(d) for d in env["dependencies"] if isinstance(d, str)} - {"python", "pip"}
    assert pip_side == conda_side, (
        f"only in pyproject.toml: {sorted(pip_side - conda_side)}; "
        f"only in environment.yml: {sorted(conda_side - pip_side)}")


def test_the_grader_depends_on_the_library_of_its_version_and_not_the_other_way():
    library, grader = _project(LIBRARY), _project(GRADER)
    version = re.search(r'__version__ = "([^"]+)"', (REPO / "lib" / "gradlab" / "__init__.py").read_text())[1]
    assert f"{library['name']}=={version}" in [r.split("#")[0].strip() for r in grader["dependencies"]]
    # one version source: both distributions read lib/gradlab/__init__.py (nothing else spells it)
    for path, attr in [(GRADER, "lib.gradlab.__version__"), (LIBRARY, "gradlab.__version__")]:
        assert "version" not in _project(path) and "version" in _project(path)["dynamic"], path
        assert tomllib.loads(path.read_text())["tool"]["setuptools"]["dynamic"]["version"] == {"attr": attr}
    heavy = {_name(r) for r in grader["dependencies"]} - {_name(r) for r in library["dependencies"]}
    assert {"dask", "psycopg2-binary", "setuptools", "tqdm"} <= heavy
    assert "scripts" not in library, "the `gradlab` command is the grader's"


def test_readme_opens_with_the_two_commands():
    head = (REPO / "README.md").read_text().split("\n## ", 2)[:2]
    text = "\n".join(head)
    assert "make demo" in text and "make test" in text


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in ci
    assert "make lint" in ci and ci.index("make lint") < ci.index("make test"), "CI lints before the suite"



def test_readme_and_docs_link_only_inside_the_repo():
    for page in [REPO / "README.md", *(REPO / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)]+)\)", page.read_text()):
            assert "://" not in target, f"{page.name} links outside the repository: {target}"
            assert (page.parent / target.split("#")[0]).exists(), f"{page.name}: {target} does not exist"
    readme = (REPO / "README.md").read_text()
    assert "(docs/architecture.md)" in readme and "(docs/sources.md)" in readme


def test_every_deck_citation_and_notebook_resolves_in_sources():
    sources = (REPO / "docs" / "sources.md").read_text()
    decks = set(re.findall(r"^\| (00\d) \|", sources, re.M))
    cited = set()
    for path in [*(REPO / "lib").rglob("*.py"), *(REPO / "solutions").rglob("*.ipynb"),
                 *(REPO / "autograder").rglob("*.py")]:
        for group in re.findall(r"[Dd]ecks? ((?:00\d(?:,? (?:and )?)?)+)", path.read_text()):
            cited |= set(re.findall(r"00\d", group))
    assert cited and cited <= decks, f"cited but not in docs/sources.md: {sorted(cited - decks)}"
    notebooks = {p.parent.name for p in (REPO / "solutions").glob("*/*.ipynb")}
    listed = set(re.findall(r"^\| `(\w+)` \| 00\d \|", sources, re.M))
    assert notebooks <= listed, f"notebooks without a row in docs/sources.md: {sorted(notebooks - listed)}"


def test_the_grader_wheel_installs_the_formgraders_cleaning(tmp_path):
    """What the grader's wheel puts into <env>/etc/jupyter gives the formgrader nbconvert's sanitizer
    and gradlab's markdown cleaning, as the formgrader reads its config (nbgrader's
    server_extensions/formgrader/formgrader.py: HTMLExporter(config=self.config), self.config from
    apps/baseapp.py's NbGrader.load_config_file: nbgrader_config.py and .json on the config path)."""
    import shutil

    from traitlets.config import Application

    etc = tmp_path / "etc"
    for dest, sources in tomllib.loads(GRADER.read_text())["tool"]["setuptools"]["data-files"].items():
        (etc.parent / dest).mkdir(parents=True, exist_ok=True)
        for source in sources:
            shutil.copy(REPO / source, etc.parent / dest)
    app = Application()
    app.load_config_file("nbgrader_config", path=[str(tmp_path / "etc" / "jupyter")])
    config = app.config
    exporter = config.get("HTMLExporter", {})
    assert exporter.get("sanitize_html") is True, config
    assert exporter["filters"]["markdown2html"] == "gradlab_grader.preprocessors.sanitize.markdown2html_clean"
    from gradlab_grader.preprocessors.sanitize import markdown2html_clean  # noqa: F401  (it exists)
