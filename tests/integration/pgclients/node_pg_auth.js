// node_pg_auth.js - node-postgres logging in with SCRAM-SHA-256 and meeting its role; run by test_auth.py
// as `node node_pg_auth.js PORT`, against a server with auth = scram-sha-256 and test_auth.py's users.
// Prints "ok <name>" per check; the first failure prints the error and exits 1.
'use strict';
const assert = require('assert/strict');
const { Client } = require('pg');

const port = Number(process.argv[2]);
const connect = (user, password) => new Client({ host: '127.0.0.1', port, user, password, database: 'app' });

async function main() {
  const viewer = connect('viewer', 'v1ew');
  await viewer.connect();
  const r = await viewer.query('SELECT count(*) AS n FROM users WHERE id = $1', [1]);
  assert.equal(Number(r.rows[0].n), 1);
  await assert.rejects(viewer.query('DELETE FROM users WHERE id = $1', [1]), (e) => e.code === '42501');
  assert.equal(Number((await viewer.query('SELECT 1 AS one')).rows[0].one), 1); // still usable
  await viewer.end();
  console.log('ok readonly');

  const app = connect('app', 'app pw with spaces');
  await app.connect();
  const u = await app.query('UPDATE users SET full_name = $1 WHERE id = $2', ['Node', 1]);
  assert.equal(u.rowCount, 1);
  await assert.rejects(app.query('CREATE TABLE t_node(a int)'), (e) => e.code === '42501');
  await app.end();
  console.log('ok readwrite');

  const bad = connect('viewer', 'wrong');
  await assert.rejects(bad.connect(), (e) => e.code === '28P01');
  console.log('ok wrong password');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
