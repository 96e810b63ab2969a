-- queries.sql - the named queries litecached ships: CALL <name> <args…> runs one of these.
--
-- Format (yesql-like): a line `-- name: <ident> [ttl=N] [nocache]` starts a query; its body runs to
-- the next `-- name:` line and may hold several statements, which the server runs in one
-- transaction. Parameters are :name; a query's arguments are its parameters in order of first
-- appearance in the body, which is why some UPDATEs take their arguments through a one-row
-- `FROM (SELECT :id AS id, …) AS arg` instead of putting :id last in the WHERE clause.
-- ttl=N caches a result for N seconds; nocache never caches it.
--
-- Lists leave out password_hash; only the single-user lookups (login needs it) return whole rows.

-- ---------------------------------------------------------------- users

-- name: createUser
INSERT INTO users (email, password_hash, full_name, meta)
VALUES (:email, :password_hash, :full_name, coalesce(:meta, '{}'))
RETURNING id;

-- name: getUserById
SELECT * FROM users WHERE id = :id;

-- name: getUserByEmail
SELECT * FROM users WHERE email = :email;

-- name: searchUsersByMeta
-- An expression index is used only when the query spells its exact expression, and
-- json_extract(meta, '$.' || :key) never does; so phone and country, which have indexes, get
-- branches of their own. Comparisons with a bound parameter alone are constant, so SQLite
-- evaluates them once and skips the branches that do not apply; any other key scans users.
SELECT id, email, full_name, meta, created_at, updated_at, last_login, is_active, role
  FROM users WHERE :key = 'phone' AND json_extract(meta, '$.phone') = :value
UNION ALL
SELECT id, email, full_name, meta, created_at, updated_at, last_login, is_active, role
  FROM users WHERE :key = 'country' AND json_extract(meta, '$.country') = :value
UNION ALL
SELECT id, email, full_name, meta, created_at, updated_at, last_login, is_active, role
  FROM users WHERE :key NOT IN ('phone', 'country') AND json_extract(meta, '$.' || :key) = :value
ORDER BY id;

-- name: updateUser
-- A NULL argument keeps the column as it is.
UPDATE users
   SET email = coalesce(arg.email, users.email),
       full_name = coalesce(arg.full_name, users.full_name),
       meta = coalesce(arg.meta, users.meta)
  FROM (SELECT :id AS id, :email AS email, :full_name AS full_name, :meta AS meta) AS arg
 WHERE users.id = arg.id;

-- name: updateUserMeta
-- Sets one top-level key of meta; the value is stored as given (text stays text).
UPDATE users
   SET meta = json_set(coalesce(users.meta, '{}'), '$.' || arg.k, arg.v)
  FROM (SELECT :id AS id, :key AS k, :value AS v) AS arg
 WHERE users.id = arg.id;

-- name: updateLastLogin
UPDATE users SET last_login = CURRENT_TIMESTAMP WHERE id = :id;

-- name: getAllUsers
SELECT id, email, full_name, meta, created_at, updated_at, last_login, is_active, role
  FROM users ORDER BY id;

-- name: getUsersBatch
-- :ids is a JSON array text, e.g. '[1,2,3]'.
SELECT id, email, full_name, meta, created_at, updated_at, last_login, is_active, role
  FROM users
 WHERE id IN (SELECT value FROM json_each(:ids))
 ORDER BY id;

-- name: getUsersWithPosts
-- One row per user with their posts as a JSON array, newest first; '[]' for a user without posts.
SELECT u.id, u.email, u.full_name,
       (SELECT json_group_array(json_object('id', p.id, 'title', p.title, 'views', p.views,
                                            'likes', p.likes, 'created_at', p.created_at))
          FROM (SELECT id, title, views, likes, created_at FROM posts
                 WHERE user_id = u.id ORDER BY created_at DESC, id DESC) AS p) AS posts
  FROM users u
 WHERE u.id IN (SELECT value FROM json_each(:ids))
 ORDER BY u.id;

-- name: getUserProfile
-- Three result sets: the user, their stats, their 10 latest posts.
SELECT id, email, full_name, meta, created_at, updated_at, last_login, is_active, role
  FROM users WHERE id = :id;
SELECT * FROM user_stats WHERE user_id = :id;
SELECT id, title, views, likes, created_at
  FROM posts WHERE user_id = :id
 ORDER BY created_at DESC, id DESC
 LIMIT 10;

-- name: getUserStats ttl=30
SELECT * FROM user_stats WHERE user_id = :id;

-- name: deleteUser
-- Cascades to the user's posts, items, sessions, preferences and stats (needs foreign_keys on).
DELETE FROM users WHERE id = :id;

-- ---------------------------------------------------------------- preferences

-- name: createUserWithPreferences
-- last_insert_rowid() is the new user's id: rows inserted by triggers (user_stats) do not change
-- it once the trigger has finished. Returns the new user's id.
INSERT INTO users (email, password_hash, full_name)
VALUES (:email, :password_hash, :full_name);
INSERT INTO user_preferences (user_id, theme, language)
VALUES (last_insert_rowid(), coalesce(:theme, 'light'), coalesce(:language, 'en'))
RETURNING user_id;

-- name: getUserPreferences
SELECT * FROM user_preferences WHERE user_id = :user_id;

-- name: updateUserPreferences
-- Creates the row if the user has none; a NULL argument keeps the current (or default) value.
INSERT INTO user_preferences (user_id, theme, language, notifications_enabled)
VALUES (:user_id, coalesce(:theme, 'light'), coalesce(:language, 'en'),
        coalesce(:notifications_enabled, 1))
ON CONFLICT (user_id) DO UPDATE
   SET theme = coalesce(:theme, theme),
       language = coalesce(:language, language),
       notifications_enabled = coalesce(:notifications_enabled, notifications_enabled);

-- ---------------------------------------------------------------- items

-- name: readItems
SELECT * FROM items ORDER BY id;

-- name: getUserItems
SELECT * FROM items WHERE user_id = :user_id ORDER BY id;

-- name: createItem
-- :user_id may be NULL: an item without an owner.
INSERT INTO items (user_id, title, description)
VALUES (:user_id, :title, :description)
RETURNING id;

-- name: updateItem
-- A NULL argument keeps the column as it is.
UPDATE items
   SET title = coalesce(arg.title, items.title),
       description = coalesce(arg.description, items.description)
  FROM (SELECT :id AS id, :title AS title, :description AS description) AS arg
 WHERE items.id = arg.id;

-- name: setItemStatus
-- 'active', 'archived' or 'deleted' (a soft delete: the row stays).
UPDATE items SET status = arg.status
  FROM (SELECT :id AS id, :status AS status) AS arg
 WHERE items.id = arg.id;

-- name: deleteItem
DELETE FROM items WHERE id = :id;

-- ---------------------------------------------------------------- posts

-- name: createPost
INSERT INTO posts (user_id, title, body)
VALUES (:user_id, :title, :body)
RETURNING id;

-- name: getPostById
SELECT * FROM posts WHERE id = :id;

-- name: getUserPosts
SELECT id, user_id, title, body, views, likes, created_at, updated_at
  FROM posts WHERE user_id = :user_id
 ORDER BY created_at DESC, id DESC;

-- name: updatePost
-- A NULL argument keeps the column as it is.
UPDATE posts
   SET title = coalesce(arg.title, posts.title),
       body = coalesce(arg.body, posts.body)
  FROM (SELECT :id AS id, :title AS title, :body AS body) AS arg
 WHERE posts.id = arg.id;

-- name: viewPost
UPDATE posts SET views = views + 1 WHERE id = :id;

-- name: likePost
UPDATE posts SET likes = likes + 1 WHERE id = :id;

-- name: deletePost
DELETE FROM posts WHERE id = :id;

-- name: getTopPosts ttl=30
-- NULL means 10. Served by idx_posts_views.
SELECT id, user_id, title, views, likes, created_at
  FROM posts
 ORDER BY views DESC, id
 LIMIT coalesce(:limit, 10);

-- ---------------------------------------------------------------- sessions

-- name: createSession
-- The session expires :ttl_seconds from now.
INSERT INTO sessions (user_id, token, expires_at)
VALUES (:user_id, :token, datetime('now', :ttl_seconds || ' seconds'))
RETURNING id, expires_at;

-- name: getSessionByToken nocache
-- Never cached: the answer depends on the clock (expiry), not only on the tables.
SELECT s.id, s.user_id, s.token, s.expires_at, s.created_at, u.email, u.role, u.is_active
  FROM sessions s JOIN users u ON u.id = s.user_id
 WHERE s.token = :token AND s.expires_at > datetime('now');

-- name: deleteSession
DELETE FROM sessions WHERE token = :token;

-- name: deleteExpiredSessions
DELETE FROM sessions WHERE expires_at <= datetime('now');

-- ---------------------------------------------------------------- statistics

-- name: getStats ttl=10
SELECT users, posts, items_active, items_archived, items_deleted FROM global_stats WHERE id = 1;
