"""Options: precedence (CLI > env > ini > default), validation, and the no-target skip."""

import pytest

SHOW_SETTINGS = """
from pytest_aksload.plugin import session_key

def test_show(request):
    s = request.config.stash[session_key].settings
    print("SETTINGS", s.aks_users, s.aks_duration, s.aks_spawn_rate, s.aks_key_env)
"""


def _shown(result: pytest.RunResult) -> str:
    return next(line[line.index("SETTINGS") :] for line in result.outlines if "SETTINGS" in line)


def test_help_lists_the_aksload_group(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    out = result.stdout.str()
    assert "aksload" in out
    for flag in (
        "--aks-service",
        "--aml-endpoint",
        "--aml-deployment",
        "--aks-scoring-uri",
        "--aks-local",
        "--aks-users",
        "--aks-spawn-rate",
        "--aks-duration",
        "--aks-report",
        "--aks-workspace-config",
    ):
        assert flag in out
    assert "aks_key_env" in out and "criteo_sample_path" in out


def test_precedence_cli_over_env_over_ini_over_default(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(SHOW_SETTINGS)
    assert "SETTINGS 20 15.0 10.0 AKSLOAD_KEY" in _shown(pytester.runpytest("-s"))
    pytester.makeini("[pytest]\naks_users = 7\naks_duration = 1m\naks_key_env = MY_KEY\n")
    assert "SETTINGS 7 60.0 10.0 MY_KEY" in _shown(pytester.runpytest("-s"))
    monkeypatch.setenv("AKSLOAD_USERS", "9")
    assert "SETTINGS 9 60.0 10.0 MY_KEY" in _shown(pytester.runpytest("-s"))
    assert "SETTINGS 11 90.0 10.0 MY_KEY" in _shown(
        pytester.runpytest("-s", "--aks-users", "11", "--aks-duration", "90s")
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--aks-duration", "abc"],
            "--aks-duration: cannot use 'abc' (from --aks-duration); expected seconds or a duration",
        ),
        (["--aks-users", "-3"], "--aks-users: cannot use '-3'"),
        (["--aks-users", "0"], "expected a whole number >= 1"),
        (["--aks-spawn-rate", "fast"], "--aks-spawn-rate: cannot use 'fast'"),
        (["--aks-scoring-uri", "ftp://example.org/score"], "expected an http:// or https:// URL"),
        (["--aks-scoring-uri", "localhost:5001/score"], "--aks-scoring-uri: cannot use 'localhost:5001/score'"),
        (["--aks-workspace-config", "no/such/config.json"], "the path of an existing config.json"),
        (["--aks-local", "--aks-scoring-uri", "http://127.0.0.1:1/score"], "choose one target"),
        (["--aml-deployment", "blue"], "--aml-deployment needs --aml-endpoint NAME"),
        (
            ["--aks-local", "--aks-local-deployments", "blue=shipped b=shipped"],
            "--aks-local-deployments: cannot use 'blue=shipped b=shipped' (from --aks-local-deployments): "
            "'b' is not a deployment name: use 3-32 letters, digits or single dashes, beginning with a letter",
        ),
        (
            ["--aks-local", "--aks-local-deployments", "blue=shipped green=models/green.txt"],
            "--aks-local-deployments: model of deployment 'green': no file 'models/green.txt' (relative to the rootdir",
        ),
        (
            ["--aks-local", "--aks-local-deployments", "blue=shipped", "--aml-deployment", "green"],
            "--aml-deployment 'green' is not a deployment of --aks-local-deployments (blue)",
        ),
    ],
)
def test_bad_option_is_one_line_usage_error(pytester: pytest.Pytester, args: list[str], expected: str) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.startswith("ERROR:")]
    assert len(errors) == 1 and expected in errors[0], result.errlines
    assert "Traceback" not in result.stderr.str()


def test_local_deployments_from_ini_find_their_model_files_in_the_rootdir(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from pytest_aksload.plugin import session_key

        def test_show(request):
            s = request.config.stash[session_key].settings
            print("DEPLOYMENTS", [(d.name, d.model, d.latency_s) for d in s.aks_local_deployments], s.local_model)
        """
    )
    (pytester.path / "models").mkdir()
    (pytester.path / "models" / "green.txt").write_text("a model\n")
    pytester.makeini("[pytest]\naks_local_deployments = blue=shipped, green=models/green.txt+40ms\n")
    # Run from a subdirectory: the path is the rootdir's, not the working directory's.
    (pytester.path / "sub").mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(pytester.path / "sub")
        result = pytester.runpytest("-s", "--aml-deployment", "green", "--aks-local", str(pytester.path))
    green = str(pytester.path / "models" / "green.txt")
    assert f"DEPLOYMENTS [('blue', None, 0.0), ('green', '{green}', 0.04)] {green}" in result.stdout.str()


def test_bad_env_and_ini_values_name_their_source(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    monkeypatch.setenv("AKSLOAD_SPAWN_RATE", "-1")
    result = pytester.runpytest()
    assert "from environment variable AKSLOAD_SPAWN_RATE" in result.stderr.str()
    monkeypatch.delenv("AKSLOAD_SPAWN_RATE")
    pytester.makeini("[pytest]\naks_key_env = 1BAD NAME\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "ini key aks_key_env: cannot use '1BAD NAME' (from ini key aks_key_env)" in result.stderr.str()


def test_no_target_skips_target_tests_and_runs_the_rest(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        def test_needs_target(aks_scoring_uri):
            pass

        @pytest.mark.load_test(users=1, duration="1s")
        def test_load():
            pass

        def test_plain(criteo_payload):
            assert "int00" in criteo_payload
        """
    )
    result = pytester.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines(["*no endpoint: pass --aks-service, --aml-endpoint, --aks-scoring-uri or --aks-local*"])


@pytest.mark.parametrize(
    ("args", "extra"),
    [(["--aks-service", "svc"], "azureml"), (["--aml-endpoint", "ep"], "azureml-v2"), (["--aks-local"], "local")],
)
def test_a_target_without_its_sdk_names_the_extra(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, args: list[str], extra: str
) -> None:
    from pytest_aksload.config import settings

    monkeypatch.setattr(settings, "installed", lambda module: False)
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest_inprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    expected = f"{args[0]} needs the '{extra}' extra: pip install \"pytest-aksload[{extra}]\""
    assert [line for line in result.errlines if line.startswith("ERROR:")] == [f"ERROR: {expected}"]


def test_installed_finds_modules_without_importing_them() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from pytest_aksload.config.extras import installed; "
        "assert installed('json') and installed('email.mime.text'); "
        "assert not installed('surely_not_a_module') and not installed('surely_not_a_module.sub'); "
        "assert not installed('json.no_such_submodule'); "
        "assert 'email.mime.text' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


SHOW_TARGET = """
from pytest_aksload.plugin import session_key

def pytest_collection_finish(session):
    s = session.config.stash[session_key].settings
    print("TARGET", s.aks_service, s.aks_scoring_uri, s.aks_local)
"""


def test_a_target_given_with_higher_precedence_replaces_the_others(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A team's ini names a default target; CI's command line or environment names another: the
    documented precedence, applied to the targets as one setting (it used to be "choose one target")."""
    pytester.makeconftest(SHOW_TARGET)
    pytester.makepyfile("def test_nothing(): pass")
    pytester.makeini("[pytest]\naks_scoring_uri = http://127.0.0.1:1/score\n")

    def target(*args: str) -> str:
        result = pytester.runpytest("-s", "--collect-only", *args)
        assert result.ret == pytest.ExitCode.OK, result.errlines
        return next(line for line in result.outlines if line.startswith("TARGET"))

    assert target() == "TARGET None http://127.0.0.1:1/score False"
    assert target("--aks-local") == "TARGET None None True"
    monkeypatch.setenv("AKSLOAD_SERVICE", "lightgbm-criteo")
    assert target() == "TARGET lightgbm-criteo None False"
    assert target("--aks-scoring-uri", "http://127.0.0.1:2/score") == "TARGET None http://127.0.0.1:2/score False"


def test_two_targets_from_one_source_name_where_each_came_from(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    monkeypatch.setenv("AKSLOAD_SERVICE", "lightgbm-criteo")
    monkeypatch.setenv("AKSLOAD_SCORING_URI", "http://127.0.0.1:1/score")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert [line for line in result.errlines if line.startswith("ERROR:")] == [
        "ERROR: choose one target: --aks-service (from environment variable AKSLOAD_SERVICE), --aks-scoring-uri "
        "(from environment variable AKSLOAD_SCORING_URI) were all given; pass only one of them"
    ]


def test_old_environment_names_still_work_with_one_warning_naming_the_new_ones(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """This release still reads `AKS_USERS` and the key from `AKS_KEY`, below the new names, and
    says once per session (as a pytest warning) what to rename them to."""
    pytester.makepyfile(SHOW_SETTINGS + "\ndef test_other():\n    pass\n")
    monkeypatch.setenv("AKS_USERS", "9")
    monkeypatch.setenv("AKS_KEY", "the-key")
    result = pytester.runpytest("-s", "--aks-scoring-uri", "http://127.0.0.1:1/score")
    assert "SETTINGS 9 15.0 10.0 AKS_KEY" in _shown(result)
    result.assert_outcomes(passed=2, warnings=1)  # once per session, not per test
    assert (
        "AksloadDeprecationWarning: pytest-aksload read environment variables by their old names; rename them "
        "(AKS_USERS -> AKSLOAD_USERS, AKS_KEY -> AKSLOAD_KEY)"
    ) in result.stdout.str()
    monkeypatch.setenv("AKSLOAD_USERS", "5")  # the new name wins, and nothing old is read
    monkeypatch.setenv("AKSLOAD_KEY", "the-key")
    result = pytester.runpytest("-s", "--aks-scoring-uri", "http://127.0.0.1:1/score")
    assert "SETTINGS 5 15.0 10.0 AKSLOAD_KEY" in _shown(result)
    assert "AksloadDeprecationWarning" not in result.stdout.str()


def test_a_generic_old_target_variable_does_not_override_a_new_one(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pipeline's own `AKS_SERVICE` (for its deploy step) beside the gate's `AKSLOAD_SCORING_URI`:
    the gate's wins, and the ignored old one is not reported as read."""
    pytester.makeconftest(SHOW_TARGET)
    pytester.makepyfile("def test_nothing(): pass")
    monkeypatch.setenv("AKS_SERVICE", "lightgbm-criteo")
    monkeypatch.setenv("AKSLOAD_SCORING_URI", "http://127.0.0.1:2/score")
    result = pytester.runpytest("-s", "--collect-only")
    assert result.ret == pytest.ExitCode.OK, result.errlines
    assert "TARGET None http://127.0.0.1:2/score False" in result.outlines
    assert "AksloadDeprecationWarning" not in result.stdout.str()
