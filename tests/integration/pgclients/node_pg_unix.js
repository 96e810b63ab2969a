// node_pg_unix.js - node-postgres over litecached's Unix-domain socket; run by test_unix_socket.py as `node node_pg_unix.js DIR PORT`.
// node-postgres, like libpq, takes a host that starts with '/' as the directory of .s.PGSQL.<port>.
'use strict';
const assert = require('assert/strict');
const { Client } = require('pg');

async function main() {
  const c = new Client({ host: process.argv[2], port: Number(process.argv[3]), user: 'node', database: 'app' });
  await c.connect();
  await c.query('CREATE TABLE IF NOT EXISTS unix_node(id INTEGER PRIMARY KEY, who TEXT)');
  await c.query('INSERT INTO unix_node(id, who) VALUES ($1, $2)', [7, 'node over a unix socket']);
  const r = await c.query('SELECT who FROM unix_node WHERE id = $1', [7]);
  assert.deepEqual(r.rows, [{ who: 'node over a unix socket' }]);
  console.log('ok parameters');
  await c.query('BEGIN');
  await c.query('INSERT INTO unix_node(id, who) VALUES ($1, $2)', [8, 'rolled back']);
  await c.query('ROLLBACK');
  const n = await c.query('SELECT count(*) AS n FROM unix_node');
  assert.equal(Number(n.rows[0].n), 1);
  console.log('ok transaction');
  await c.end();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
