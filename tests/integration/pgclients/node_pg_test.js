// node_pg_test.js - node-postgres against litecached; run by test_pg_node.py as `node node_pg_test.js PORT LINE_PORT`.
// Each check prints "ok <name>"; the first failure prints the error and exits 1.
'use strict';
const assert = require('assert/strict');
const net = require('net');
const { Client } = require('pg');

const port = Number(process.argv[2]);

function connect() {
  return new Client({ host: '127.0.0.1', port, user: 'node', database: 'app', application_name: 'node-test' });
}

// One line-protocol request (the response up to its status line), for STATS and cache fills.
function line(request) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(request + '\n'));
    let data = '';
    s.on('data', (d) => {
      data += d;
      const lines = data.split('\n');
      if (lines.some((l) => l.startsWith('+') || l.startsWith('-'))) {
        s.end();
        resolve(lines.filter((l) => l));
      }
    });
    s.on('error', reject);
  });
}

async function stats() {
  const out = {};
  for (const l of await line('STATS')) if (l.startsWith('=')) {
    const [k, v] = l.slice(1).split('\t');
    out[k] = Number(v);
  }
  return out;
}

const checks = {
  async connect_and_parameters(c) {
    // An integer expression has no declared type: SQLite's 64-bit integer is int8, which
    // node-postgres returns as a string (as for PostgreSQL's bigint); INT columns come back as numbers.
    const r = await c.query('SELECT $1::int + 1 AS x, $2::text AS t, $3::float8 AS f', [41, 'hé ✓', 0.5]);
    assert.deepEqual(r.rows, [{ x: '42', t: 'hé ✓', f: 0.5 }]);
    assert.equal(r.command, 'SELECT');
    assert.equal(r.rowCount, 1);
  },

  async reads_and_writes(c) {
    await c.query('CREATE TABLE IF NOT EXISTS nd(id INT PRIMARY KEY, name TEXT, score REAL, ok BOOLEAN, raw BYTEA, at TIMESTAMP, gone TEXT)');
    const when = new Date(Date.UTC(2024, 1, 29, 13, 14, 15));
    const ins = await c.query('INSERT INTO nd VALUES ($1, $2, $3, $4, $5, $6, $7)',
      [1, 'one', 1.5, true, Buffer.from([0, 1, 254, 255]), '2024-02-29 13:14:15', null]);
    assert.equal(ins.command, 'INSERT');
    assert.equal(ins.rowCount, 1);
    await c.query('INSERT INTO nd(id, name) VALUES ($1, $2), ($3, $4)', [2, 'two', 3, 'three']);
    const r = await c.query('SELECT * FROM nd WHERE id = $1', [1]);
    const row = r.rows[0];
    assert.equal(row.id, 1);
    assert.equal(row.name, 'one');
    assert.equal(row.score, 1.5);
    assert.equal(row.ok, true);
    assert.ok(Buffer.isBuffer(row.raw));
    assert.deepEqual([...row.raw], [0, 1, 254, 255]);
    assert.ok(row.at instanceof Date);
    assert.equal(row.at.getFullYear(), when.getUTCFullYear());
    assert.equal(row.at.getMinutes(), 14);
    assert.equal(row.gone, null);
    const u = await c.query('UPDATE nd SET score = score + $1 WHERE id >= $2', [1, 2]);
    assert.equal(u.rowCount, 2);
    const named = { name: 'by-id', text: 'SELECT name FROM nd WHERE id = $1' };
    for (const [id, name] of [[2, 'two'], [3, 'three'], [2, 'two']])
      assert.equal((await c.query({ ...named, values: [id] })).rows[0].name, name);
  },

  async transactions(c) {
    await c.query('BEGIN');
    await c.query('INSERT INTO nd(id, name) VALUES ($1, $2)', [10, 'ten']);
    assert.equal((await c.query('SELECT count(*) AS n FROM nd WHERE id = $1', [10])).rows[0].n, '1');
    await c.query('ROLLBACK');
    assert.equal((await c.query('SELECT count(*) AS n FROM nd WHERE id = $1', [10])).rows[0].n, '0');
    await c.query('BEGIN');
    await c.query('INSERT INTO nd(id, name) VALUES ($1, $2)', [11, 'eleven']);
    await c.query('COMMIT');
    assert.equal((await c.query('SELECT name FROM nd WHERE id = 11')).rows[0].name, 'eleven');
  },

  async error_and_recovery(c) {
    await assert.rejects(c.query('SELECT * FROM no_such_table WHERE id = $1', [1]), (e) => e.code === '42P01');
    await assert.rejects(c.query('INSERT INTO nd(id) VALUES ($1)', [1]), (e) => e.code === '23505');
    await c.query('BEGIN');
    await assert.rejects(c.query('SELECT nope FROM nd'), (e) => e.code === '42703');
    await assert.rejects(c.query('SELECT 1'), (e) => e.code === '25P02');
    const rb = await c.query('COMMIT');
    assert.equal(rb.command, 'ROLLBACK');
    assert.equal((await c.query('SELECT id FROM nd WHERE id = $1', [1])).rows[0].id, 1);
  },

  async call_named_query_and_shared_cache(c) {
    const created = await line('CALL createUser "node@example.com" h "Node User" null');
    const id = Number(created.find((l) => l.startsWith('=')).slice(1));
    const fill = await line(`CALL getUserById ${id}`);
    assert.ok(fill[fill.length - 1].includes('cache=miss'), fill.join('\n'));
    const before = await stats();
    const r = await c.query('CALL getUserById($1)', [id]);
    assert.equal(r.rows.length, 1);
    assert.equal(r.rows[0].email, 'node@example.com');
    assert.equal(r.rows[0].full_name, 'Node User');
    const after = await stats();
    assert.equal(after.cache_hits - before.cache_hits, 1);
  },

  async null_and_types_without_tables(c) {
    // Types come from declared columns, else from the first row's values: a boolean expression is
    // an integer to SQLite (declared BOOLEAN columns come back as booleans, above).
    const r = await c.query('SELECT NULL AS n, true AS b, 1.5::float8 AS f, \'\\x0102\'::bytea AS by');
    assert.deepEqual(r.rows[0], { n: null, b: '1', f: 1.5, by: Buffer.from([1, 2]) });
  },
};

(async () => {
  const c = connect();
  await c.connect();
  for (const [name, fn] of Object.entries(checks)) {
    await fn(c);
    console.log(`ok ${name}`);
  }
  await c.end();
})().catch((e) => {
  console.error('FAIL', e && e.stack ? e.stack : e);
  process.exit(1);
});
