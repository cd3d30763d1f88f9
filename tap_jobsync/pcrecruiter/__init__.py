"""PCRecruiter: candidates, companies and positions, synced with change tracking."""

from __future__ import annotations

import typing as t

from singer_sdk import typing as th

from jobsync_common.errors import ConfigError
from jobsync_common.settings import rate_limit_property
from tap_jobsync.pcrecruiter import api as pcr
from tap_jobsync.pcrecruiter.streams import STREAM_TYPES
from tap_jobsync.service import TapService

if t.TYPE_CHECKING:
    from singer_sdk import Stream

_OPERATIONS_PATTERN = r"^[IUDiud]{1,3}$"


def setting_properties() -> list[th.Property]:
    return [
        th.Property(
            pcr.SERVICE.base_url_setting,
            th.StringType,
            default=pcr.SERVICE.default_base_url,
            description="PCRecruiter REST API base URL (ending in /rest/api).",
        ),
        th.Property(pcr.DATABASE_ID_SETTING, th.StringType, description="PCRecruiter database id."),
        th.Property(pcr.USERNAME_SETTING, th.StringType, description="PCRecruiter user name."),
        th.Property(pcr.PASSWORD_SETTING, th.StringType, secret=True, description="PCRecruiter password."),
        th.Property(pcr.APP_ID_SETTING, th.StringType, description="PCRecruiter API application id."),
        th.Property(pcr.API_KEY_SETTING, th.StringType, secret=True, description="PCRecruiter API key."),
        th.Property(
            pcr.ENTITIES_SETTING,
            th.ArrayType(th.StringType),
            default=list(pcr.DEFAULT_ENTITIES),
            description=f"Entities to sync, one stream each (pcrecruiter_<entity>): {', '.join(pcr.ENTITIES)}.",
        ),
        th.Property(
            pcr.FIELDS_SETTING,
            th.ObjectType(additional_properties=th.ArrayType(th.StringType)),
            description='Fields to ask for, per entity, e.g. {"candidates": ["FirstName", "LastName"]} '
            "(the primary key is always included). Default: every field.",
        ),
        th.Property(
            pcr.QUERY_SETTING,
            th.ObjectType(additional_properties=th.StringType),
            description='PCRecruiter query per entity, e.g. {"candidates": "status eq Active"}. Deleted records '
            "always come through (the API cannot apply a query to them).",
        ),
        th.Property(
            pcr.APP_NAME_SETTING,
            th.StringType(pattern=pcr.APP_NAME_PATTERN),
            description="Use PCRecruiter's change-tracking version handling by application name (per app and "
            f"user) instead of the tap's bookmarks. The name {pcr.APP_NAME_RULE}.",
        ),
        th.Property(
            pcr.OPERATIONS_SETTING,
            th.StringType(pattern=_OPERATIONS_PATTERN),
            default=pcr.OPERATIONS,
            description="Changes to read: any of I (inserts), U (updates), D (deletes). Without D, deleted "
            "records are not reported and full listings send no ACTIVATE_VERSION.",
        ),
        th.Property(
            pcr.RESULTS_PER_PAGE_SETTING,
            th.IntegerType(minimum=1, maximum=pcr.MAX_RESULTS_PER_PAGE),
            default=pcr.DEFAULT_RESULTS_PER_PAGE,
            description="ResultsPerPage of every list request. Larger pages mean fewer requests (up to "
            f"{pcr.MAX_RESULTS_PER_PAGE}, assumed the largest PCRecruiter accepts); a server that answers "
            "fewer results than asked while more remain fails the run rather than skipping records.",
        ),
        rate_limit_property(
            pcr.SERVICE.key,
            pcr.SERVICE.name,
            pcr.SERVICE.default_requests_per_minute,
            "PCRecruiter publishes no limit; set one if your account is throttled.",
        ),
    ]


def _entities(config: t.Mapping[str, t.Any]) -> list[str]:
    value = config.get(pcr.ENTITIES_SETTING) or list(pcr.DEFAULT_ENTITIES)
    entities = [e.strip() for e in value.split(",")] if isinstance(value, str) else [str(e).strip() for e in value]
    unknown = [e for e in entities if e not in pcr.ENTITIES]
    if unknown or not entities:
        msg = f"Setting `{pcr.ENTITIES_SETTING}` has unknown entities {unknown}; use any of {', '.join(pcr.ENTITIES)}."
        raise ConfigError(msg)
    return list(dict.fromkeys(entities))


def check_config(config: t.Mapping[str, t.Any]) -> list[str]:
    """The configured entities; a :class:`ConfigError` naming the setting for anything invalid."""
    entities = _entities(config)
    app_name = config.get(pcr.APP_NAME_SETTING)
    if app_name not in (None, "") and not pcr.is_valid_app_name(app_name):
        msg = f"Setting `{pcr.APP_NAME_SETTING}` {pcr.APP_NAME_RULE} (PCRecruiter's rule), got {app_name!r}."
        raise ConfigError(msg)
    operations = config.get(pcr.OPERATIONS_SETTING)
    if operations not in (None, "") and pcr.normalize_operations(operations) is None:
        msg = f"Setting `{pcr.OPERATIONS_SETTING}` must combine the letters I, U and D, got {operations!r}."
        raise ConfigError(msg)
    for setting in (pcr.FIELDS_SETTING, pcr.QUERY_SETTING):
        extra = sorted(set(config.get(setting) or {}) - set(entities))
        if extra:
            msg = f"Setting `{setting}` names entities that are not synced: {extra} (synced: {entities})."
            raise ConfigError(msg)
    return entities


def _stream_types(config: t.Mapping[str, t.Any]) -> list[type[Stream]]:
    return [STREAM_TYPES[entity] for entity in check_config(config)]


SOURCE = TapService(
    service=pcr.SERVICE,
    settings=setting_properties(),
    stream_types=_stream_types,
)
