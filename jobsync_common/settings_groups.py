"""Which settings make each service usable, published in ``--about`` for Meltano.

Every credential is optional to the plugin (a service without credentials simply takes no
part), but a run needs at least one service, and a service needs all of its credentials.
That is Meltano's ``settings_group_validation``: one group per service, any group
complete is enough. The plugins declare the groups in their settings schema under
:data:`KEY` (an annotation: JSON Schema validators ignore unknown keywords, so the
plugins' own checks still give the errors), and ``scripts/gen_meltano_settings.py``
copies them into meltano.yml, where ``meltano config list <plugin>`` shows them.
"""

from __future__ import annotations

import typing as t

KEY = "x-settings-group-validation"


def declare(config_jsonschema: dict[str, t.Any], groups: t.Iterable[t.Iterable[str]]) -> None:
    config_jsonschema[KEY] = [list(group) for group in groups]
