import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/errors.js';
import { parseListen } from '../../src/service/metrics.js';

test('--metrics-listen forms', () => {
  assert.deepEqual(parseListen('[::1]:9464'), { host: '::1', port: 9464 });
  assert.deepEqual(parseListen('127.0.0.1:9464'), { host: '127.0.0.1', port: 9464 });
  assert.deepEqual(parseListen(':9464'), { host: undefined, port: 9464 });
  assert.deepEqual(parseListen('localhost:1'), { host: 'localhost', port: 1 });
  for (const bad of ['9464', '[::1]', '::1:9464', '[::1]:99999', 'a:b']) assert.throws(() => parseListen(bad), ConfigError, bad);
});
