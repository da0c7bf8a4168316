"""`aksload init` (`python -m pytest_aksload init`) driven through its `main()`: what it writes for
each target, the CI recipes, refusing to overwrite, bad usage in one line, and no secret in any
file. (tests/live/test_init.py runs the written local gate for real.)"""

from __future__ import annotations

import ast
import configparser
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_aksload.__main__ import main
from pytest_aksload.config.options import OPTIONS, OPTIONS_BY_NAME
from pytest_aksload.config.profile import profile_from_marker
from pytest_aksload.config.settings import TARGET_OPTIONS, Settings
from pytest_aksload.scaffold import ci, gates
from pytest_aksload.scaffold.gates import GateTarget

REPO = Path(__file__).resolve().parents[2]

URI = "https://scoring.example.org/score"
# init arguments -> the ini key and value the target must be written as.
TARGETS = {
    "local": (["--local"], "aks_local", "true"),
    "scoring-uri": (["--scoring-uri", URI], "aks_scoring_uri", URI),
    "aks-service": (["--aks-service", "lightgbm-criteo"], "aks_service", "lightgbm-criteo"),
    "aml-endpoint": (["--aml-endpoint", "criteo-ep"], "aml_endpoint", "criteo-ep"),
}

# Every secret a user may have in the environment while running init.
SECRETS = {
    "AKSLOAD_KEY": "k3y-INIT-0123456789-abcdef",
    "AKS_KEY": "k3y-INIT-old-name-0123456789",
    "AZURE_CLIENT_SECRET": "s3cret-INIT-azure-client",
    "AZUREML_SERVICE_PRINCIPAL_PASSWORD": "s3cret-INIT-sdk-v1",
}


def init(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of `aksload init --dir tmp_path *args`."""
    try:
        code = main(["init", "--dir", str(tmp_path), *args])
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def written(root: Path) -> dict[str, str]:
    return {path.relative_to(root).as_posix(): path.read_text() for path in root.rglob("*") if path.is_file()}


def marker_kwargs(gate: str) -> dict[str, Any]:
    """The keyword arguments of the gate's `@pytest.mark.load_test(...)`, as pytest would pass them."""
    (call,) = [
        decorator
        for node in ast.walk(ast.parse(gate))
        if isinstance(node, ast.FunctionDef)
        for decorator in node.decorator_list
        if isinstance(decorator, ast.Call) and ast.unparse(decorator.func) == "pytest.mark.load_test"
    ]
    return {keyword.arg: ast.literal_eval(keyword.value) for keyword in call.keywords}


def ini_settings(text: str) -> dict[str, str]:
    parser = configparser.ConfigParser()
    parser.read_string(text)
    return dict(parser["pytest"])


@pytest.mark.parametrize("name", TARGETS)
def test_each_target_gets_a_gate_and_an_ini_file_the_plugin_accepts(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args, key, value = TARGETS[name]
    code, out, err = init(tmp_path, capsys, *args)
    assert (code, err) == (0, "")
    files = written(tmp_path)
    assert set(files) == {"gates/test_load_gate.py", "gates/pytest.ini"}

    settings = ini_settings(files["gates/pytest.ini"])
    # Exactly the chosen target, as the plugin's own ini key, and every value one the plugin accepts.
    assert [option for option in TARGET_OPTIONS if option in settings] == [key]
    assert settings[key] == value
    for option, raw in settings.items():
        OPTIONS_BY_NAME[option].parse(raw)

    # The gate's marker passes the plugin's collection-time validation, and it sets a bound on
    # extended runs (the ini asks for --aks-inconclusive=extend).
    gate = files["gates/test_load_gate.py"]
    compile(gate, "test_load_gate.py", "exec")
    assert ("--aks-local" if name == "local" else value) in gate.split('"""')[1]  # its docstring names the target
    profile = profile_from_marker((), marker_kwargs(gate), Settings(), tmp_path / "gates")
    assert settings["aks_inconclusive"] == "extend" and profile.max_duration_s is not None
    assert {"failure_rate", "p95"} <= {slo.metric for slo in profile.slos}

    # What was written, and the next command.
    assert f"{tmp_path}/gates/test_load_gate.py" in out and f"{tmp_path}/gates/pytest.ini" in out
    assert f"cd {shlex.quote(str(tmp_path))} && pytest gates" in out.splitlines()[-1]


def test_the_local_gate_checks_the_answers_and_is_short() -> None:
    """Against the embedded service every prediction is checked (its expected values are the
    shipped model's), in a run short enough for a first try: 10 s, at most 40 s when extended."""
    profile = profile_from_marker((), marker_kwargs(gates.gate(GateTarget("aks_local"))), Settings(), Path("."))
    assert "mismatch_rate" in {slo.metric for slo in profile.slos}
    assert profile.batch > 1 and profile.warmup_s < profile.duration_s <= 10 and profile.max_duration_s <= 40


def test_the_next_command_says_what_to_install_and_where_the_key_goes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init", "--scoring-uri", "https://scoring.example.org/score"]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last == "Next: pytest gates (with the endpoint's key in the environment variable AKSLOAD_KEY)"
    # An SDK the target needs and this environment lacks is named with its extra.
    monkeypatch.setattr("pytest_aksload.scaffold.init.installed", lambda module: False)
    assert main(["init", "--aml-endpoint", "criteo-ep", "--dir", "other project"]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last == "Next: pip install \"pytest-aksload[azureml-v2]\" && cd 'other project' && pytest gates"


def steps(recipe: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """Every step, including those inside Azure's template conditionals (`${{ if ... }}: [steps]`)."""
    found = []
    for step in recipe[key]:
        conditional = [value for name, value in step.items() if name.startswith("${{")]
        found += conditional[0] if conditional else [step]
    return found


# The environment variables the gate reads its secret(s) from, per target.
GATE_ENV = {
    "local": set(),
    "scoring-uri": {"AKSLOAD_KEY"},
    "aks-service": {
        "AZUREML_SERVICE_PRINCIPAL_TENANT_ID",
        "AZUREML_SERVICE_PRINCIPAL_ID",
        "AZUREML_SERVICE_PRINCIPAL_PASSWORD",
    },
    "aml-endpoint": {"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"},
}
KNOWN_FLAGS = {option.flag for option in OPTIONS if option.cli} | {"--junitxml"}


@pytest.mark.parametrize("kind", ["github", "azure"])
@pytest.mark.parametrize("name", TARGETS)
def test_the_ci_recipe_installs_runs_the_gates_and_publishes_their_results(
    kind: str, name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args, key, _ = TARGETS[name]
    code, out, _ = init(tmp_path, capsys, *args, "--ci", kind)
    assert code == 0
    path = ci.GITHUB_FILE if kind == "github" else ci.AZURE_FILE
    assert f"{tmp_path}/{path}" in out
    recipe = yaml.safe_load((tmp_path / path).read_text())
    if kind == "github":
        (job,) = recipe["jobs"].values()
        all_steps = job["steps"]
        run = [step for step in all_steps if "run" in step]
        command = "run"
    else:
        all_steps = steps(recipe, "steps")
        run = [step for step in all_steps if "script" in step]
        command = "script"

    extra = {"local": "[local]", "scoring-uri": "", "aks-service": "[azureml]", "aml-endpoint": "[azureml-v2]"}[name]
    assert run[0][command] == f'pip install "pytest-aksload{extra}"'
    (gate,) = [step for step in run if step[command].startswith("pytest ")]
    argv = shlex.split(gate[command])
    # The gates folder with its ini file (which holds the target), and only options this version has.
    assert argv[1] == "gates" and not any(flag in argv for flag in ("--aks-local", "--aks-scoring-uri"))
    assert {word for word in argv if word.startswith("--")} <= KNOWN_FLAGS
    junit, report = argv[argv.index("--junitxml") + 1], argv[argv.index("--aks-report") + 1]

    # Secrets reach the gate through its step's environment, from the CI's secret store, never
    # through its command line. (GitHub's SDK v2 sign-in is OIDC: no stored secret at all.)
    env = gate.get("env", {})
    assert set(env) == (set() if (name, kind) == ("aml-endpoint", "github") else GATE_ENV[name])
    secret_reference = r"\$\{\{ secrets\.\w+ \}\}" if kind == "github" else r"\$\(\w+\)"
    assert all(re.fullmatch(secret_reference, source) for source in env.values()), env
    assert not any(variable in gate[command] for variable in GATE_ENV[name])

    # A workspace config and a sign-in exactly for the Azure ML targets.
    text = (tmp_path / path).read_text()
    # The header comment names every secret and variable the recipe reads (what to set up).
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    reference = r"\$\{\{ (?:secrets|vars)\.(\w+) \}\}" if kind == "github" else r"\$\((\w+)\)"
    assert all(used in header for used in re.findall(reference, text)), header
    assert ("config.json" in text) == (name in ("aks-service", "aml-endpoint"))

    # Results and report are published when the gate failed too: that is when they are read.
    if kind == "github":
        (upload,) = [step for step in all_steps if step.get("uses", "").startswith("actions/upload-artifact")]
        assert upload["if"] == "always()" and set(upload["with"]["path"].split()) == {junit, report}
        assert "workflow_dispatch" in recipe[True]  # YAML 1.1 reads the key `on` as True
    else:
        by_task = {step["task"]: step for step in all_steps if "task" in step}
        assert by_task["PublishTestResults@2"]["inputs"]["testResultsFiles"] == junit
        assert by_task["PublishPipelineArtifact@1"]["inputs"]["targetPath"] == report
        assert by_task["PublishTestResults@2"]["condition"] == "succeededOrFailed()"
        assert ("AzureCLI@2" in by_task) == (name in ("aks-service", "aml-endpoint"))


def test_the_example_azure_pipeline_is_the_recipe_init_writes() -> None:
    """One recipe: examples/ci/azure-pipelines.yml (which the docs show) is `azure_pipelines` for an
    AKS web service named by the pipeline variable AML_SERVICE; change the recipe in scaffold/ci.py."""
    example = (REPO / "examples" / "ci" / "azure-pipelines.yml").read_text()
    assert ci.azure_pipelines(GateTarget("aks_service"), "examples", target_variable="AML_SERVICE") == example


@pytest.mark.parametrize("existing", ["gates/pytest.ini", "gates/test_load_gate.py", ".github/workflows/load-gate.yml"])
def test_an_existing_file_is_never_overwritten_and_nothing_is_written(
    existing: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / existing
    path.parent.mkdir(parents=True)
    path.write_text("mine\n")
    code, out, err = init(tmp_path, capsys, "--local", "--ci", "github")
    assert code == 1 and out == ""
    assert err == f"aksload init: error: {path} already exists; nothing written (move it away, or use --dir PATH)\n"
    assert written(tmp_path) == {existing: "mine\n"}


def test_a_dangling_symlink_counts_as_an_existing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "gates").mkdir()
    (tmp_path / "gates" / "pytest.ini").symlink_to(tmp_path / "nowhere.ini")
    code, _, err = init(tmp_path, capsys, "--local")
    assert code == 1 and "pytest.ini already exists" in err
    assert not (tmp_path / "nowhere.ini").exists() and not (tmp_path / "gates" / "test_load_gate.py").exists()


def test_dir_is_created_when_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = init(tmp_path / "new" / "project", capsys, "--local")
    assert code == 0 and (tmp_path / "new" / "project" / "gates" / "pytest.ini").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "aksload init: error: one of the arguments --local --scoring-uri --aks-service --aml-endpoint is "
         "required (see --help)"),
        (["--local", "--aks-service", "svc"], "aksload init: error: argument --aks-service: not allowed with "
         "argument --local (see --help)"),
        (["--local", "--ci", "gitlab"], "aksload init: error: argument --ci: invalid choice: 'gitlab' (choose from"),
        (["--scoring-uri", "example.org/score"], "aksload init: error: --scoring-uri 'example.org/score': expected "
         "an http:// or https:// URL with a host"),
        (["--aks-service", "my service"], "aksload init: error: --aks-service 'my service': an Azure ML name is "
         "letters, digits and '-', starting with a letter, 3 to 32 characters"),
        (["--aml-endpoint", "ep\n[pytest]"], "aksload init: error: --aml-endpoint 'ep\\n[pytest]': an Azure ML"),
        (["--local", "--bogus"], "aksload: error: unrecognized arguments: --bogus (see --help)"),
    ],
)  # fmt: skip
def test_bad_usage_exits_2_with_one_line_and_writes_nothing(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = init(tmp_path, capsys, *args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(message), err
    assert written(tmp_path) == {}


def test_a_dir_that_is_a_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("")
    code, out, err = init(tmp_path / "file", capsys, "--local")
    assert (code, out) == (2, "") and err == f"aksload init: error: --dir {tmp_path / 'file'}: not a directory\n"


@pytest.mark.parametrize(
    "uri",
    ["https://user:hunter2-secret@scoring.example.org/score", "https://fn.example.org/api/score?code=hunter2-secret"],
)
def test_a_url_carrying_a_credential_is_refused_without_echoing_it(
    uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = init(tmp_path, capsys, "--scoring-uri", uri)
    assert code == 2 and written(tmp_path) == {}
    assert "the URL carries a credential" in err and "AKSLOAD_KEY" in err
    assert "hunter2" not in out + err


@pytest.mark.parametrize("kind", ["github", "azure"])
@pytest.mark.parametrize("name", TARGETS)
def test_no_secret_from_the_environment_is_written_or_printed(
    kind: str, name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable, value in SECRETS.items():
        monkeypatch.setenv(variable, value)
    code, out, err = init(tmp_path, capsys, *TARGETS[name][0], "--ci", kind)
    assert code == 0
    everything = out + err + "".join(written(tmp_path).values())
    assert not [value for value in SECRETS.values() if value in everything]


def test_the_console_script_is_aksload_init() -> None:
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    scripts = dict(line.split(" = ") for line in config["options.entry_points"]["console_scripts"].strip().splitlines())
    assert scripts["aksload"] == "pytest_aksload.__main__:main"
