"""专题 (M10, S7): the eight themes of Huangshan's city brain (seed 002) as presets of layers,
filters and KPI panels. 总体态势 is the default. A theme is data only; the wall applies it.
Which sensor kinds a theme's map shows is declared by each kind (``Kind.themes``), not here; a
theme lists the layers it is built around, and a layer may add itself to a theme by declaring it
(``LayerSpec.themes``, layers.registry), so a new layer needs no edit here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from layers import registry
from sensors.kinds import in_theme

# Layer keys a theme may list, bottom to top: the discovered layers (layers.registry), in order.
LAYER_KEYS: tuple[str, ...] = registry.keys()
# KPI panels (指标) the wall knows how to draw.
KPI_KEYS: tuple[str, ...] = ("open_by_tier", "overdue", "on_time", "alarms_by_level",
                             "device_online", "camera_online")


@dataclass(frozen=True)
class Theme:
    """专题: which layers, which data inside them, which KPI panels and charts."""

    code: str
    name: str
    layers: tuple[str, ...]
    categories: tuple[str, ...] | None = None     # incident category prefixes (grid.categories)
    sensor_types: tuple[str, ...] | None = None   # device kinds shown (None: all)
    camera_classes: tuple[int, ...] | None = None
    resource_kinds: tuple[str, ...] | None = None
    risk_unit: str = "town"                       # 五色图 per 'town' or 'cell'
    kpis: tuple[str, ...] = KPI_KEYS
    blurb: str = ""


def _with_declared(theme: Theme) -> Theme:
    """The theme plus the layers that declare it (``LayerSpec.themes``) and it does not list."""
    extra = tuple(k for k in registry.declared_for(theme.code) if k not in theme.layers)
    return replace(theme, layers=theme.layers + extra) if extra else theme


_ALL_KPI = KPI_KEYS
THEMES: dict[str, Theme] = {t.code: _with_declared(t) for t in (
    Theme("overview", "总体态势",
          ("city", "risk", "towns", "sensors", "cameras", "resources", "incidents", "alarms"),
          blurb="全域感知、事件、告警与综合风险一张图"),
    Theme("city_mgmt", "城市管理",
          ("city", "cells", "towns", "sensors", "cameras", "incidents", "alarms"),
          categories=("01", "12"), sensor_types=in_theme("city_mgmt"),
          camera_classes=(2, 3), kpis=("open_by_tier", "overdue", "on_time", "camera_online"),
          blurb="市容市政、路灯、环卫、占道、井盖:网格化管理"),
    Theme("city_safety", "城市安全",
          ("city", "risk", "towns", "sensors", "cameras", "resources", "incidents", "alarms"),
          categories=("02", "03", "04", "05"),
          sensor_types=in_theme("city_safety"),
          kpis=("alarms_by_level", "open_by_tier", "overdue", "device_online", "camera_online",
                "on_time"),
          blurb="防汛、消防、燃气、桥梁、安全生产:风险精准感知与处置"),
    Theme("ecology", "生态环境",
          ("city", "villages", "towns", "sensors", "incidents", "alarms"),
          categories=("06", "0305", "0604"), sensor_types=in_theme("ecology"),
          kpis=("alarms_by_level", "open_by_tier", "overdue", "device_online"),
          blurb="大气、水、土壤全要素态势"),
    Theme("transport", "公共交通",
          ("city", "towns", "cameras", "sensors", "incidents", "alarms"),
          categories=("07", "0503"), sensor_types=in_theme("transport"), camera_classes=(1, 2),
          kpis=("open_by_tier", "overdue", "on_time", "camera_online"),
          blurb="拥堵、事故、桥梁:交通态势可视可管可控"),
    Theme("tourism", "智慧文旅",
          ("city", "towns", "sensors", "cameras", "incidents", "alarms"),
          categories=("08",), sensor_types=in_theme("tourism"),
          kpis=("alarms_by_level", "open_by_tier", "overdue", "camera_online"),
          blurb="景区客流监测预警、旅游投诉"),
    Theme("livelihood", "民生幸福",
          ("city", "villages", "towns", "incidents", "resources"),
          categories=("09", "10", "12"), resource_kinds=("shelter",),
          kpis=("open_by_tier", "overdue", "on_time"),
          blurb="民生诉求、公共卫生、12345"),
    Theme("community", "社区服务",
          ("city", "cells", "villages", "towns", "incidents", "resources", "alarms"),
          categories=("10", "1004", "12"), resource_kinds=("shelter", "rescue_team"),
          risk_unit="cell", kpis=("open_by_tier", "overdue", "on_time", "alarms_by_level"),
          blurb="一格一员:网格、社区与紧急求助"),
)}
DEFAULT_THEME = "overview"
ROTATION: tuple[str, ...] = tuple(THEMES)


def get_theme(code_or_name: str | None) -> Theme:
    """A theme by code or Chinese name; the default when unknown or empty."""
    if code_or_name:
        if code_or_name in THEMES:
            return THEMES[code_or_name]
        for t in THEMES.values():
            if t.name == code_or_name:
                return t
    return THEMES[DEFAULT_THEME]


def next_theme(code: str) -> Theme:
    """The theme after ``code`` in the wall's rotation (轮播)."""
    i = ROTATION.index(code) if code in ROTATION else -1
    return THEMES[ROTATION[(i + 1) % len(ROTATION)]]
