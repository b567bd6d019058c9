"""Settings come from the environment; unsafe production config is refused loudly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "k" * 20 + "-production-secret-from-the-environment-0123456789",
    "ALLOWED_HOSTS": "monitor.example.com",
    "EVOLUTION_API_URL": "https://evolution.example.com",
    "EVOLUTION_API_KEY": "global-key",
    "EVOLUTION_WEBHOOK_SECRET": "w" * 16 + "-webhook-secret-0123456789",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # DJANGO_ALLOW_ASYNC_UNSAFE is the browser tests' (tests/browser/conftest.py), not production's.
    dropped = {*PRODUCTION, "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    clean = {k: v for k, v in os.environ.items() if k not in dropped}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# The README's production setup: behind a TLS proxy, HTTPS only, secure cookies.
BEHIND_TLS = {
    "CSRF_TRUSTED_ORIGINS": "https://monitor.example.com",
    "BEHIND_TLS_PROXY": "true",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SESSION_COOKIE_SECURE": "true",
    "CSRF_COOKIE_SECURE": "true",
}


def test_production_settings_pass_check_deploy() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("preload", ["false", "true"])
def test_check_deploy_has_nothing_to_say_with_or_without_the_hsts_preload_opt_in(preload: str) -> None:
    result = manage("check", "--deploy", **PRODUCTION, **BEHIND_TLS, SECURE_HSTS_PRELOAD=preload)

    assert result.returncode == 0, result.stderr
    assert "WARNINGS" not in result.stderr + result.stdout
    assert "System check identified no issues" in result.stdout


def test_hsts_preload_is_off_unless_an_operator_opts_in() -> None:
    show = "from django.conf import settings; print(settings.SECURE_HSTS_PRELOAD, settings.SILENCED_SYSTEM_CHECKS)"

    default = manage("shell", "-c", show, **PRODUCTION, **BEHIND_TLS)
    opted_in = manage("shell", "-c", show, **PRODUCTION, **BEHIND_TLS, SECURE_HSTS_PRELOAD="true")

    assert default.stdout.splitlines()[-1] == "False ['security.W021']"
    assert opted_in.stdout.splitlines()[-1] == "True []"


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("SECRET_KEY", "SECRET_KEY must be set"),
        ("ALLOWED_HOSTS", "ALLOWED_HOSTS must be set"),
        ("EVOLUTION_API_URL", "EVOLUTION_API_URL must be set"),
        ("EVOLUTION_WEBHOOK_SECRET", "EVOLUTION_WEBHOOK_SECRET must be set"),
    ],
)
def test_production_without_a_required_setting_refuses_to_start(missing: str, message: str) -> None:
    env = {k: v for k, v in PRODUCTION.items() if k != missing}

    result = manage("check", **env)

    assert result.returncode != 0
    assert message in result.stderr


def test_production_refuses_a_guessable_webhook_secret() -> None:
    # It travels in the global webhook's URL and signs Evolution's tokens: 11 characters will not do.
    result = manage("check", **{**PRODUCTION, "EVOLUTION_WEBHOOK_SECRET": "abc12345678"})

    assert result.returncode != 0
    assert "EVOLUTION_WEBHOOK_SECRET must be at least 32 characters" in result.stderr


def test_production_refuses_a_slack_signing_secret_that_is_not_slacks() -> None:
    # Slack's signing secrets are 32 characters; a shorter one is a paste gone wrong, or a guessable one.
    result = manage("check", **{**PRODUCTION, "SLACK_SIGNING_SECRET": "curto"})

    assert result.returncode != 0
    assert "SLACK_SIGNING_SECRET must be Slack's 32-character signing secret" in result.stderr


def test_a_malformed_number_is_a_clear_error() -> None:
    result = manage("check", EVOLUTION_TIMEOUT="cinco")

    assert result.returncode != 0
    assert "EVOLUTION_TIMEOUT must be a number" in result.stderr


def test_the_task_broker_is_redis_with_redis_unless_told_to_keep_the_database() -> None:
    def broker(**env: str) -> str:
        result = manage(
            "shell", "-c", "from django.conf import settings; print(settings.Q_CLUSTER.get('redis') or 'orm')", **env
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip().splitlines()[-1]  # the shell may print its imports first

    assert broker(REDIS_URL="", TASK_BROKER="") == "orm"
    assert broker(REDIS_URL="redis://127.0.0.1:6379/9", TASK_BROKER="") == "redis://127.0.0.1:6379/9"
    assert broker(REDIS_URL="redis://127.0.0.1:6379/9", TASK_BROKER="orm") == "orm"


def test_a_task_broker_that_cannot_work_is_a_clear_error() -> None:
    unknown = manage("check", TASK_BROKER="rabbitmq")
    without_redis = manage("check", TASK_BROKER="redis", REDIS_URL="")

    assert "TASK_BROKER must be redis or orm, got 'rabbitmq'" in unknown.stderr
    assert "TASK_BROKER=redis needs REDIS_URL" in without_redis.stderr
