-- 002_stats.sql - schema version 2: per-user and global counters kept exact by triggers, so stats reads are single-row lookups.

-- Both tables hold derived data only, so they are (re)built from the base tables here: a database
-- migrating from version 1, or a prototype database with the notes' narrower user_stats, comes out
-- with correct counts. The notes' example trigger is dropped for the same reason.
DROP TRIGGER IF EXISTS update_user_stats;
DROP TABLE IF EXISTS user_stats;
DROP TABLE IF EXISTS global_stats;

-- One row per user, created by the users insert trigger. item_count counts every item of the user
-- whatever its status; active_items only status 'active'.
CREATE TABLE user_stats (
    user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    post_count INTEGER NOT NULL DEFAULT 0,
    total_views INTEGER NOT NULL DEFAULT 0,
    total_likes INTEGER NOT NULL DEFAULT 0,
    item_count INTEGER NOT NULL DEFAULT 0,
    active_items INTEGER NOT NULL DEFAULT 0
);

-- A single row (id = 1) with one column per counter rather than key/value rows: getStats is one
-- row read with named, typed columns, and each trigger adjusts all its counters in one UPDATE of
-- one row instead of one UPDATE per key. A new counter is a new column in a later migration.
-- items_* count items by status (an item whose status is NULL is in none of them); items_deleted
-- is the soft-delete status, not rows removed from the table.
CREATE TABLE global_stats (
    id INTEGER PRIMARY KEY CHECK(id = 1),
    users INTEGER NOT NULL DEFAULT 0,
    posts INTEGER NOT NULL DEFAULT 0,
    items_active INTEGER NOT NULL DEFAULT 0,
    items_archived INTEGER NOT NULL DEFAULT 0,
    items_deleted INTEGER NOT NULL DEFAULT 0
);

INSERT INTO user_stats (user_id, post_count, total_views, total_likes, item_count, active_items)
SELECT u.id,
       (SELECT count(*) FROM posts p WHERE p.user_id = u.id),
       (SELECT coalesce(sum(p.views), 0) FROM posts p WHERE p.user_id = u.id),
       (SELECT coalesce(sum(p.likes), 0) FROM posts p WHERE p.user_id = u.id),
       (SELECT count(*) FROM items i WHERE i.user_id = u.id),
       (SELECT count(*) FROM items i WHERE i.user_id = u.id AND i.status = 'active')
  FROM users u;

INSERT INTO global_stats (id, users, posts, items_active, items_archived, items_deleted)
SELECT 1,
       (SELECT count(*) FROM users),
       (SELECT count(*) FROM posts),
       (SELECT count(*) FROM items WHERE status = 'active'),
       (SELECT count(*) FROM items WHERE status = 'archived'),
       (SELECT count(*) FROM items WHERE status = 'deleted');

-- The triggers below write only user_stats and global_stats, which have no triggers, so none of
-- them can fire itself again even with recursive_triggers on.
--
-- A user delete cascades to posts and items (and to user_stats) in an order SQLite chooses; a
-- cascaded post or item delete may find the user's stats row already gone, and its UPDATE then
-- matches nothing, which is what we want. The explicit DELETE keeps user_stats clean when
-- foreign_keys is off and nothing cascades.
--
-- Status tests use IS, not =: the CHECK on items.status lets NULL through, and NULL = 'active'
-- would turn a counter into NULL and violate NOT NULL.
--
-- INSERT OR REPLACE on users/posts/items deletes the old row silently unless recursive_triggers is
-- on, and then these counters drift; use an upsert (ON CONFLICT DO UPDATE) instead.

CREATE TRIGGER user_stats_user_insert
AFTER INSERT ON users
BEGIN
    INSERT INTO user_stats (user_id) VALUES (NEW.id);
    UPDATE global_stats SET users = users + 1 WHERE id = 1;
END;

CREATE TRIGGER user_stats_user_delete
AFTER DELETE ON users
BEGIN
    DELETE FROM user_stats WHERE user_id = OLD.id;
    UPDATE global_stats SET users = users - 1 WHERE id = 1;
END;

CREATE TRIGGER user_stats_post_insert
AFTER INSERT ON posts
BEGIN
    UPDATE user_stats
       SET post_count = post_count + 1,
           total_views = total_views + NEW.views,
           total_likes = total_likes + NEW.likes
     WHERE user_id = NEW.user_id;
    UPDATE global_stats SET posts = posts + 1 WHERE id = 1;
END;

CREATE TRIGGER user_stats_post_delete
AFTER DELETE ON posts
BEGIN
    UPDATE user_stats
       SET post_count = post_count - 1,
           total_views = total_views - OLD.views,
           total_likes = total_likes - OLD.likes
     WHERE user_id = OLD.user_id;
    UPDATE global_stats SET posts = posts - 1 WHERE id = 1;
END;

-- Only these columns matter; listing them keeps the updated_at bump (an UPDATE of posts from
-- update_posts_timestamp) from firing this a second time. Old and new owner may be the same user,
-- in which case the two UPDATEs net out to the delta.
CREATE TRIGGER user_stats_post_update
AFTER UPDATE OF user_id, views, likes ON posts
BEGIN
    UPDATE user_stats
       SET post_count = post_count - 1,
           total_views = total_views - OLD.views,
           total_likes = total_likes - OLD.likes
     WHERE user_id = OLD.user_id;
    UPDATE user_stats
       SET post_count = post_count + 1,
           total_views = total_views + NEW.views,
           total_likes = total_likes + NEW.likes
     WHERE user_id = NEW.user_id;
END;

-- items.user_id is nullable: "WHERE user_id = NULL" matches no row, so ownerless items only count
-- in global_stats.
CREATE TRIGGER user_stats_item_insert
AFTER INSERT ON items
BEGIN
    UPDATE user_stats
       SET item_count = item_count + 1,
           active_items = active_items + (NEW.status IS 'active')
     WHERE user_id = NEW.user_id;
    UPDATE global_stats
       SET items_active = items_active + (NEW.status IS 'active'),
           items_archived = items_archived + (NEW.status IS 'archived'),
           items_deleted = items_deleted + (NEW.status IS 'deleted')
     WHERE id = 1;
END;

CREATE TRIGGER user_stats_item_delete
AFTER DELETE ON items
BEGIN
    UPDATE user_stats
       SET item_count = item_count - 1,
           active_items = active_items - (OLD.status IS 'active')
     WHERE user_id = OLD.user_id;
    UPDATE global_stats
       SET items_active = items_active - (OLD.status IS 'active'),
           items_archived = items_archived - (OLD.status IS 'archived'),
           items_deleted = items_deleted - (OLD.status IS 'deleted')
     WHERE id = 1;
END;

CREATE TRIGGER user_stats_item_update
AFTER UPDATE OF user_id, status ON items
BEGIN
    UPDATE user_stats
       SET item_count = item_count - 1,
           active_items = active_items - (OLD.status IS 'active')
     WHERE user_id = OLD.user_id;
    UPDATE user_stats
       SET item_count = item_count + 1,
           active_items = active_items + (NEW.status IS 'active')
     WHERE user_id = NEW.user_id;
    UPDATE global_stats
       SET items_active = items_active - (OLD.status IS 'active') + (NEW.status IS 'active'),
           items_archived = items_archived - (OLD.status IS 'archived') + (NEW.status IS 'archived'),
           items_deleted = items_deleted - (OLD.status IS 'deleted') + (NEW.status IS 'deleted')
     WHERE id = 1;
END;
