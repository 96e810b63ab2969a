-- 001_tables.sql - schema version 1: the base tables of the design notes plus posts, their indexes and updated_at triggers.

-- IF NOT EXISTS lets a database left behind by the Node prototype (same tables, user_version 0)
-- be adopted in place instead of failing on "table users already exists".

CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    full_name TEXT,
    meta TEXT DEFAULT '{}',
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
    updated_at DATETIME DEFAULT CURRENT_TIMESTAMP,
    last_login DATETIME,
    is_active INTEGER DEFAULT 1,
    role TEXT DEFAULT 'user' CHECK(role IN ('user', 'admin', 'moderator'))
);

-- user_id is nullable: an item may belong to nobody.
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER,
    title TEXT NOT NULL,
    description TEXT,
    status TEXT DEFAULT 'active' CHECK(status IN ('active', 'archived', 'deleted')),
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
    updated_at DATETIME DEFAULT CURRENT_TIMESTAMP,
    FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL,
    token TEXT NOT NULL UNIQUE,
    expires_at DATETIME NOT NULL,
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
    FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS user_preferences (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL UNIQUE,
    theme TEXT DEFAULT 'light' CHECK(theme IN ('light', 'dark', 'auto')),
    language TEXT DEFAULT 'en',
    notifications_enabled INTEGER DEFAULT 1,
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
    updated_at DATETIME DEFAULT CURRENT_TIMESTAMP,
    FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS posts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    body TEXT,
    views INTEGER NOT NULL DEFAULT 0,
    likes INTEGER NOT NULL DEFAULT 0,
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
    updated_at DATETIME DEFAULT CURRENT_TIMESTAMP
);

-- idx_users_email and idx_sessions_token duplicate the UNIQUE autoindexes; they are kept because
-- the design notes name them and queries or EXPLAIN output may refer to them by name.
CREATE INDEX IF NOT EXISTS idx_users_email ON users(email);
CREATE INDEX IF NOT EXISTS idx_items_user_id ON items(user_id);
CREATE INDEX IF NOT EXISTS idx_items_status ON items(status);
CREATE INDEX IF NOT EXISTS idx_sessions_token ON sessions(token);
CREATE INDEX IF NOT EXISTS idx_sessions_user_id ON sessions(user_id);
-- Expression indexes are only used when a query spells the very same expression, path literal included.
CREATE INDEX IF NOT EXISTS idx_users_meta_phone ON users(json_extract(meta, '$.phone'));
CREATE INDEX IF NOT EXISTS idx_users_meta_country ON users(json_extract(meta, '$.country'));
CREATE INDEX IF NOT EXISTS idx_posts_user_id ON posts(user_id);
CREATE INDEX IF NOT EXISTS idx_posts_user_created ON posts(user_id, created_at DESC);
CREATE INDEX IF NOT EXISTS idx_posts_views ON posts(views DESC);

-- updated_at bookkeeping. The notes' triggers (same names, dropped here when adopting a prototype
-- database) update their own row unconditionally, which recurses until SQLite gives up whenever
-- recursive_triggers is on. These are guarded twice:
--   * WHEN NEW.updated_at IS OLD.updated_at: the trigger's own UPDATE changes updated_at, so the
--     nested firing sees a change and stops; a client that sets updated_at itself also wins.
--   * the inner WHERE skips a row that already holds this instant, so two updates within the same
--     millisecond leave the row alone instead of firing once more.
-- Milliseconds ('%f'), so that successive updates are distinguishable without sleeping a second.
-- The AFTER UPDATE OF triggers in 002_stats.sql do not list updated_at, so this bump is invisible to them.

DROP TRIGGER IF EXISTS update_users_timestamp;
CREATE TRIGGER update_users_timestamp
AFTER UPDATE ON users
WHEN NEW.updated_at IS OLD.updated_at
BEGIN
    UPDATE users SET updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
     WHERE id = NEW.id AND updated_at IS NOT strftime('%Y-%m-%d %H:%M:%f', 'now');
END;

DROP TRIGGER IF EXISTS update_items_timestamp;
CREATE TRIGGER update_items_timestamp
AFTER UPDATE ON items
WHEN NEW.updated_at IS OLD.updated_at
BEGIN
    UPDATE items SET updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
     WHERE id = NEW.id AND updated_at IS NOT strftime('%Y-%m-%d %H:%M:%f', 'now');
END;

DROP TRIGGER IF EXISTS update_user_preferences_timestamp;
CREATE TRIGGER update_user_preferences_timestamp
AFTER UPDATE ON user_preferences
WHEN NEW.updated_at IS OLD.updated_at
BEGIN
    UPDATE user_preferences SET updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
     WHERE id = NEW.id AND updated_at IS NOT strftime('%Y-%m-%d %H:%M:%f', 'now');
END;

DROP TRIGGER IF EXISTS update_posts_timestamp;
CREATE TRIGGER update_posts_timestamp
AFTER UPDATE ON posts
WHEN NEW.updated_at IS OLD.updated_at
BEGIN
    UPDATE posts SET updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
     WHERE id = NEW.id AND updated_at IS NOT strftime('%Y-%m-%d %H:%M:%f', 'now');
END;
