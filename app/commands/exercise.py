"""``onemap exercise``: 推演 (rehearsal, X3; issue 16) — run a plan as an exercise on a copy of the
live picture with a simulator scenario as its trigger (``start``), list the runs (``list``),
replay one in order (``replay``), end one with its summary (``end``). Nothing it does creates a
real case, commits a real resource or switches 应急模式 (``incidents.emergency.exercise``);
every line it prints says 演练.

The command is the server operator's (it needs the system's Redis): it acts as the city's
exercise director (``推演导演``, a city commander) named after the operating-system user."""

from __future__ import annotations

import getpass
import sys
from datetime import UTC, datetime, timedelta

import click

from app.config import Settings


def _ctx():  # noqa: ANN202 (AppContext)
    from app.context import AppContext  # noqa: PLC0415

    settings = Settings()
    if not settings.redis_url:
        raise click.UsageError("set ONEMAP_REDIS_URL to the Redis of the running system")
    return AppContext(settings, settings.redis_url)


def _director():  # noqa: ANN202 (Actor)
    from incidents.actor import Actor  # noqa: PLC0415

    user = getpass.getuser()
    return Actor(f"cli:{user}", "city_commander", "CITY", f"推演导演（{user}）")


def _when(ts: float) -> str:
    return (datetime.fromtimestamp(ts, UTC) + timedelta(hours=8)).strftime("%m-%d %H:%M:%S")


def _line(e: dict) -> str:
    """One replayed event, for people (演练 first)."""
    a = e.get("action", "")
    head = f"[演练] {_when(float(e.get('ts', 0)))} "
    if a == "start":
        return head + f"开始推演：预案 {e['plan']}，情景 {e['scenario']}，镇街 {e.get('town') or '全市'}"
    if a == "copy":
        return head + (f"复制实时态势：在办事件 {e['open_cases']} 件，应急资源 {e['resources']} 项，"
                       f"进行中的真实响应 {e['real_responses_active']} 个")
    if a == "alarm":
        x = e["alarm"]
        return head + f"情景告警：{x.get('device_id')} {x.get('message', '')} {x.get('level')}"
    if a == "no_trigger":
        return head + f"未达到任何响应级别的启动条件（来源 {e.get('sources')}）"
    if a == "suggest":
        return head + f"建议启动 {e['level']} 级响应（{e['level_name']}）：{'；'.join(e['reasons'])}"
    if a == "activate":
        return head + f"启动 {e['level']} 级响应（推演）{e['response']}，成员单位任务 {e['tasks']} 项"
    if a == "dispatch":
        return head + (f"调派（演练）{e['name']} ×{e['quantity']}（{e['need']}，"
                       f"直线距离 {e['distance_m'] / 1000:.1f} 公里）")
    if a == "end":
        return head + f"结束推演：{e.get('summary', '')}"
    return head + f"{a} {e.get('reason', '')}".rstrip()


@click.group("exercise")
def command() -> None:
    """推演 (exercise): run a plan on a copy of the live picture, list, replay."""


@command.command("start")
@click.argument("plan")
@click.option("--scenario", required=True, type=click.Choice(["flood", "fire", "outage"]),
              help="The simulator's scenario that triggers the exercise.")
@click.option("--town", default=None, help="Town code (default: the scenario's choice).")
@click.option("--seed", type=int, default=0, show_default=True)
def start(plan: str, scenario: str, town: str | None, seed: int) -> None:
    """Run PLAN as an exercise triggered by SCENARIO; prints the run's events."""
    from app.exercise import exercises_for, run  # noqa: PLC0415
    from incidents.errors import IncidentError  # noqa: PLC0415

    ctx = _ctx()
    try:
        got = run(ctx, _director(), plan, scenario, town, seed)
    except (IncidentError, ValueError) as exc:
        click.echo(f"[演练] 推演未能开始：{exc}", err=True)
        sys.exit(1)
    for e in exercises_for(ctx).replay(_director(), got["id"]):
        click.echo(_line(e))
    click.echo(f"[演练] 推演 {got['id']}：" + (f"{got['level']} 级响应 {got.get('response', '')}"
                                              if got.get("response") else "未启动响应"))


@command.command("list")
def list_() -> None:
    """Every exercise run, newest first."""
    from app.exercise import exercises_for  # noqa: PLC0415

    for x in exercises_for(_ctx()).list():
        click.echo(f"[演练] {x['id']}\t{_when(x['ts'])}\t{x['plan_name']}\t情景 {x['scenario']}\t"
                   f"{x.get('level') or '—'}\t{x['state']}\t告警 {x['alarms']}")


@command.command("replay")
@click.argument("exercise_id")
def replay(exercise_id: str) -> None:
    """Replay EXERCISE_ID: its events in order."""
    from app.exercise import exercises_for  # noqa: PLC0415
    from incidents.errors import NotFound  # noqa: PLC0415

    try:
        events = exercises_for(_ctx()).replay(_director(), exercise_id)
    except NotFound:
        click.echo(f"[演练] 没有推演 {exercise_id}", err=True)
        sys.exit(1)
    for e in events:
        click.echo(_line(e))


@command.command("end")
@click.argument("exercise_id")
@click.option("--summary", required=True, help="The exercise's summary (总结).")
def end(exercise_id: str, summary: str) -> None:
    """End EXERCISE_ID with its summary."""
    from app.exercise import exercises_for  # noqa: PLC0415
    from incidents.errors import IncidentError  # noqa: PLC0415

    try:
        exercises_for(_ctx()).end(_director(), exercise_id, summary)
    except (IncidentError, ValueError) as exc:
        click.echo(f"[演练] {exc}", err=True)
        sys.exit(1)
    click.echo(f"[演练] 推演 {exercise_id} 已结束")
