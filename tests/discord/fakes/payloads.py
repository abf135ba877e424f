"""Discord API v10 wire shapes, as the gateway and REST API send them, for the fakes.

Only the fields discord.py reads (plus the ones a real payload always has) are filled.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

Json = dict[str, Any]

# Snowflakes: large, increasing, unique across everything the fakes make.
_ids = itertools.count(1_300_000_000_000_000_000)
ALL_PERMISSIONS = str((1 << 50) - 1)
LOADING = 1 << 7  # message flag: a deferred "thinking" response
EPHEMERAL = 1 << 6


def snowflake() -> int:
    return next(_ids)


def now() -> str:
    return datetime.now(UTC).isoformat()


def user(uid: int, name: str, *, bot: bool = False) -> Json:
    return {
        "id": str(uid),
        "username": name,
        "global_name": name.title(),
        "discriminator": "0",
        "avatar": None,
        "bot": bot,
        "public_flags": 0,
    }


def member(
    user_data: Json, *, roles: Sequence[int] = (), permissions: str = ALL_PERMISSIONS
) -> Json:
    return {
        "user": user_data,
        "roles": [str(r) for r in roles],
        "nick": None,
        "avatar": None,
        "joined_at": now(),
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "permissions": permissions,
    }


def role(rid: int, name: str, *, position: int) -> Json:
    return {
        "id": str(rid),
        "name": name,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "position": position,
        "permissions": ALL_PERMISSIONS,
        "managed": False,
        "mentionable": False,
        "flags": 0,
    }


def text_channel(cid: int, *, guild_id: int, name: str) -> Json:
    return {
        "id": str(cid),
        "type": 0,
        "guild_id": str(guild_id),
        "name": name,
        "position": 0,
        "permission_overwrites": [],
        "nsfw": False,
        "parent_id": None,
        "topic": None,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "default_auto_archive_duration": 1440,
        "flags": 0,
    }


def thread_channel(tid: int, *, guild_id: int, parent_id: int, owner_id: int, name: str) -> Json:
    return {
        "id": str(tid),
        "type": 11,
        "guild_id": str(guild_id),
        "parent_id": str(parent_id),
        "owner_id": str(owner_id),
        "name": name,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "message_count": 0,
        "member_count": 1,
        "total_message_sent": 0,
        "flags": 0,
        "thread_metadata": {
            "archived": False,
            "auto_archive_duration": 1440,
            "archive_timestamp": now(),
            "locked": False,
        },
    }


def dm_channel(cid: int, *, recipient: Json) -> Json:
    return {"id": str(cid), "type": 1, "recipients": [recipient], "last_message_id": None}


def guild(
    gid: int,
    *,
    name: str,
    owner_id: int,
    roles: list[Json],
    channels: list[Json],
    members: list[Json],
    threads: Sequence[Json] = (),
) -> Json:
    everyone = role(gid, "@everyone", position=0)
    return {
        "id": str(gid),
        "name": name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": str(owner_id),
        "region": None,
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "preferred_locale": "en-US",
        "features": [],
        "roles": [everyone, *roles],
        "emojis": [],
        "stickers": [],
        "channels": channels,
        "threads": list(threads),
        "members": members,
        "member_count": len(members),
        "large": False,
        "unavailable": False,
        "joined_at": now(),
        "voice_states": [],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
    }


def message(
    *,
    mid: int,
    channel_id: int,
    author: Json,
    content: str,
    guild_id: int | None = None,
    author_member: Json | None = None,
    mentions: Sequence[Json] = (),
    embeds: Sequence[Json] = (),
    components: Sequence[Json] = (),
    flags: int = 0,
    kind: int = 0,
    extra: Json | None = None,
) -> Json:
    data: Json = {
        "id": str(mid),
        "channel_id": str(channel_id),
        "author": author,
        "content": content,
        "timestamp": now(),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": list(mentions),
        "mention_roles": [],
        "attachments": [],
        "embeds": list(embeds),
        "components": list(components),
        "pinned": False,
        "type": kind,
        "flags": flags,
    }
    if guild_id is not None:
        data["guild_id"] = str(guild_id)
    if author_member is not None:
        data["member"] = {k: v for k, v in author_member.items() if k != "user"}
    if extra:
        data.update(extra)
    return data


def interaction(
    *,
    kind: int,
    app_id: int,
    data: Json,
    channel: Json,
    user_data: Json,
    roles: Sequence[int] = (),
    permissions: str = ALL_PERMISSIONS,
    guild_id: int | None,
    message_data: Json | None = None,
) -> Json:
    """An INTERACTION_CREATE payload: kind 2 is a command, 3 a component click."""
    iid = snowflake()
    payload: Json = {
        "id": str(iid),
        "application_id": str(app_id),
        "type": kind,
        "data": data,
        "token": f"itoken-{iid}",
        "version": 1,
        "channel_id": channel["id"],
        "channel": channel,
        "app_permissions": ALL_PERMISSIONS,
        "locale": "en-US",
        "entitlements": [],
        "attachment_size_limit": 8 * 1024 * 1024,
    }
    if guild_id is not None:
        payload["guild_id"] = str(guild_id)
        payload["guild"] = {"id": str(guild_id), "locale": "en-US", "features": []}
        payload["guild_locale"] = "en-US"
        payload["member"] = member(user_data, roles=roles, permissions=permissions)
        payload["authorizing_integration_owners"] = {"0": str(guild_id)}
        payload["context"] = 0
    else:
        payload["user"] = user_data
        payload["authorizing_integration_owners"] = {"0": "0"}
        payload["context"] = 1
    if message_data is not None:
        payload["message"] = message_data
    return payload


def slash_data(
    name: str,
    *,
    options: dict[str, str] | None = None,
    files: dict[str, Json] | None = None,
    guild_id: int | None = None,
) -> Json:
    """A slash command's data; `files` are attachment options (type 11, resolved by id);
    `guild_id` when it was synced to that guild only."""
    data: Json = {"id": str(snowflake()), "name": name, "type": 1}
    if guild_id is not None:
        data["guild_id"] = str(guild_id)
    listed = [{"name": k, "type": 3, "value": v} for k, v in (options or {}).items()]
    listed += [{"name": k, "type": 11, "value": f["id"]} for k, f in (files or {}).items()]
    if listed:
        data["options"] = listed
    if files:
        data["resolved"] = {"attachments": {f["id"]: f for f in files.values()}}
    return data


def message_menu_data(name: str, *, target: Json) -> Json:
    return {
        "id": str(snowflake()),
        "name": name,
        "type": 3,
        "target_id": target["id"],
        "resolved": {"messages": {target["id"]: target}},
    }


# What a member without a manager's rights may do in a channel: view, send (also in
# threads), read history, use commands.
MEMBER_PERMISSIONS = str((1 << 10) | (1 << 11) | (1 << 16) | (1 << 31) | (1 << 38))


def select_data(custom_id: str, values: Sequence[str], *, kind: int, resolved: Json) -> Json:
    """A select's submission: `kind` 3 for strings, 7 for users and roles."""
    data: Json = {"custom_id": custom_id, "component_type": kind, "values": list(values)}
    if resolved:
        data["resolved"] = resolved
    return data


def button_data(custom_id: str) -> Json:
    return {"custom_id": custom_id, "component_type": 2}
