"""test_schema_live.py - the schema's triggers seen through the server: updated_at, cascades, statistics."""
import os
import re

import pytest

from conftest import assert_stats_consistent, parse_result, wait_until

MS_STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$")
NOW_MS = "SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')"


def uniq(prefix):
    return f"{prefix}-{os.urandom(4).hex()}@example.com"


def returned_id(c, line):
    changed, last_id, data = c.write(line)
    cols, rows = parse_result(data)
    return int(rows[0][0])


def after_clock_passes(c, stamp):
    """Wait until the server's millisecond clock is past stamp, so an update now must differ."""
    wait_until(lambda: c.scalar(NOW_MS) > stamp, timeout=5, what=f"the clock to pass {stamp}", interval=0.001)


def check_bump(c, table, row_id, update_line):
    """update_line must move updated_at of table[row_id] forward to a millisecond stamp."""
    created, old = c.rows(f"SELECT created_at, updated_at FROM {table} WHERE id = {row_id}")[0]
    after_clock_passes(c, old)
    changed, _, _ = c.write(update_line)
    assert changed >= 1, update_line
    created2, new = c.rows(f"SELECT created_at, updated_at FROM {table} WHERE id = {row_id}")[0]
    assert MS_STAMP.match(new), f"{table}.updated_at {new!r} lacks milliseconds"
    assert new > old, f"{table}.updated_at did not move: {old!r} -> {new!r} after {update_line!r}"
    assert new <= c.scalar(NOW_MS)
    assert created2 == created, "created_at must not change on UPDATE"
    return new


@pytest.fixture
def world(client):
    """A user with a post, an item and preferences."""
    uid = client.create_user(uniq("live"), "h", "Live")
    pid = returned_id(client, f'CALL createPost {uid} "title" "body"')
    iid = returned_id(client, f'CALL createItem {uid} "item" "desc"')
    client.write(f"CALL updateUserPreferences {uid} dark null null")
    prefid = int(client.scalar(f"SELECT id FROM user_preferences WHERE user_id = {uid}"))
    return {"user": uid, "post": pid, "item": iid, "pref": prefid}


def test_updated_at_users(client, world):
    u = world["user"]
    check_bump(client, "users", u, f'CALL updateUser {u} null "Renamed" null')
    check_bump(client, "users", u, f"CALL updateUserMeta {u} city Oslo")
    check_bump(client, "users", u, f"UPDATE users SET is_active = 0 WHERE id = {u}")
    check_bump(client, "users", u, f"CALL updateLastLogin {u}")


def test_updated_at_items(client, world):
    i = world["item"]
    check_bump(client, "items", i, f'CALL updateItem {i} "new title" null')
    check_bump(client, "items", i, f"CALL setItemStatus {i} archived")


def test_updated_at_posts(client, world):
    p = world["post"]
    check_bump(client, "posts", p, f'CALL updatePost {p} null "new body"')
    check_bump(client, "posts", p, f"CALL viewPost {p}")
    check_bump(client, "posts", p, f"CALL likePost {p}")


def test_updated_at_user_preferences(client, world):
    check_bump(client, "user_preferences", world["pref"], f"CALL updateUserPreferences {world['user']} auto de 0")
    assert client.rows(f"SELECT theme, language, notifications_enabled FROM user_preferences "
                       f"WHERE id = {world['pref']}") == [["auto", "de", "0"]]


def test_explicit_updated_at_wins(client, world):
    u = world["user"]
    client.write(f"UPDATE users SET full_name = 'X', updated_at = '2000-01-01 00:00:00.000' WHERE id = {u}")
    assert client.scalar(f"SELECT updated_at FROM users WHERE id = {u}") == "2000-01-01 00:00:00.000"


def test_updates_in_quick_succession(client, world):
    p = world["post"]
    client.send(*[f"CALL viewPost {p}" for _ in range(50)])
    for _ in range(50):
        assert client.read_response()[1].startswith("+OK 1 changed")
    # Each view counted once: the updated_at bump does not fire the stats trigger again.
    assert client.scalar(f"SELECT views FROM posts WHERE id = {p}") == "50"
    assert client.scalar(f"SELECT total_views FROM user_stats WHERE user_id = {world['user']}") == "50"
    assert MS_STAMP.match(client.scalar(f"SELECT updated_at FROM posts WHERE id = {p}"))


def user_stats(c, uid):
    rows = c.rows(f"SELECT post_count, total_views, total_likes, item_count, active_items FROM user_stats "
                  f"WHERE user_id = {uid}")
    return [int(v) for v in rows[0]] if rows else None


def global_stats(c):
    return [int(v) for v in c.rows("SELECT users, posts, items_active, items_archived, items_deleted "
                                   "FROM global_stats WHERE id = 1")[0]]


def test_stats_follow_writes(client):
    uid = client.create_user(uniq("st"))
    other = client.create_user(uniq("st2"))
    g0 = global_stats(client)
    assert user_stats(client, uid) == [0, 0, 0, 0, 0]
    p1 = returned_id(client, f'CALL createPost {uid} "a" null')
    p2 = returned_id(client, f'CALL createPost {uid} "b" null')
    for _ in range(3):
        client.write(f"CALL viewPost {p1}")
    client.write(f"CALL likePost {p2}")
    i1 = returned_id(client, f'CALL createItem {uid} "i1" null')
    i2 = returned_id(client, f'CALL createItem {uid} "i2" null')
    returned_id(client, 'CALL createItem null "ownerless" null')
    assert user_stats(client, uid) == [2, 3, 1, 2, 2]
    client.write(f"CALL setItemStatus {i1} archived")
    assert user_stats(client, uid) == [2, 3, 1, 2, 1]
    client.write(f"UPDATE posts SET views = 10 WHERE id = {p1}")
    assert user_stats(client, uid) == [2, 10, 1, 2, 1]
    # Moving a post and an item to another user moves their counts.
    client.write(f"UPDATE posts SET user_id = {other} WHERE id = {p2}")
    client.write(f"UPDATE items SET user_id = {other} WHERE id = {i2}")
    assert user_stats(client, uid) == [1, 10, 0, 1, 0]
    assert user_stats(client, other) == [1, 0, 1, 1, 1]
    # A title change touches no counter.
    client.write(f'CALL updatePost {p1} "retitled" null')
    assert user_stats(client, uid) == [1, 10, 0, 1, 0]
    g1 = global_stats(client)
    assert [b - a for a, b in zip(g0, g1)] == [0, 2, 2, 1, 0]
    client.write(f"CALL deletePost {p1}")
    client.write(f"CALL deleteItem {i1}")
    assert user_stats(client, uid) == [0, 0, 0, 0, 0]
    assert [b - a for a, b in zip(g1, global_stats(client))] == [0, -1, 0, -1, 0]
    assert_stats_consistent(client)


def test_delete_user_cascades(client):
    victim = client.create_user(uniq("victim"))
    bystander = client.create_user(uniq("bystander"))
    returned_id(client, f'CALL createPost {bystander} "keep" null')
    for t in ("p1", "p2"):
        pid = returned_id(client, f'CALL createPost {victim} "{t}" null')
        client.write(f"CALL viewPost {pid}")
        client.write(f"CALL likePost {pid}")
    statuses = ("active", "archived", "deleted")
    for st in statuses:
        iid = returned_id(client, f'CALL createItem {victim} "{st}" null')
        if st != "active":
            client.write(f"CALL setItemStatus {iid} {st}")
    client.write(f"CALL updateUserPreferences {victim} dark null null")
    client.write(f'CALL createSession {victim} "tok-{victim}" 3600')
    assert user_stats(client, victim) == [2, 2, 2, 3, 1]
    bystander_before = user_stats(client, bystander)
    g0 = global_stats(client)
    assert_stats_consistent(client)

    changed, last_id, _ = client.write(f"CALL deleteUser {victim}")
    assert (changed, last_id) == (1, 0)
    for table, col in (("users", "id"), ("posts", "user_id"), ("items", "user_id"), ("sessions", "user_id"),
                       ("user_preferences", "user_id"), ("user_stats", "user_id")):
        assert client.count(f"{table} WHERE {col} = {victim}") == 0, f"{table} rows of the deleted user remain"
    assert [b - a for a, b in zip(g0, global_stats(client))] == [-1, -2, -1, -1, -1]
    assert user_stats(client, bystander) == bystander_before
    assert client.rows(f"CALL getSessionByToken tok-{victim}") == []
    assert_stats_consistent(client)


def test_sessions_expire(client):
    uid = client.create_user(uniq("sess"))
    changed, _, data = client.write(f'CALL createSession {uid} "live-{uid}" 3600')
    assert parse_result(data)[0] == ["id", "expires_at"]
    client.write(f'CALL createSession {uid} "dead-{uid}" -10')
    cols, rows = client.ok(f'CALL getSessionByToken "live-{uid}"')
    assert len(rows) == 1 and rows[0][cols.index("user_id")] == str(uid)
    assert client.rows(f'CALL getSessionByToken "dead-{uid}"') == []
    changed, _, _ = client.write("CALL deleteExpiredSessions")
    assert changed >= 1
    assert client.count(f"sessions WHERE token = 'dead-{uid}'") == 0
    assert client.count(f"sessions WHERE token = 'live-{uid}'") == 1


def test_stats_after_everything(client):
    assert_stats_consistent(client)
