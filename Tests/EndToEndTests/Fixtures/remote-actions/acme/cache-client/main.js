// The requests @actions/cache (v1 protocol) makes, by hand: reserve, chunks in parallel and out
// of order with Content-Range, commit, then lookups (exact, prefix, miss) and the download.
const http = require('http');
const crypto = require('crypto');
const base = process.env.ACTIONS_CACHE_URL;
const token = process.env.ACTIONS_RUNTIME_TOKEN;
const key = process.env.INPUT_KEY;
function request(method, path, body, headers = {}, auth = true) {
  return new Promise((resolve, reject) => {
    const url = new URL(path, base);
    const h = Object.assign({}, headers);
    if (auth) h['Authorization'] = `Bearer ${token}`;
    if (body !== undefined) h['Content-Length'] = Buffer.byteLength(body);
    const req = http.request(url, { method, headers: h }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}
const api = '_apis/artifactcache/';
(async () => {
  if (!base || !base.endsWith('/')) throw new Error('ACTIONS_CACHE_URL must end with a slash: ' + base);
  const version = crypto.createHash('sha256').update('deps|zstd-without-long|1.0').digest('hex');
  const q = (keys, v = version) => `${api}cache?keys=${encodeURIComponent(keys.join(','))}&version=${v}`;
  const first = await request('GET', q([key]));
  console.log(`lookup before save: ${first.status}`);
  const data = crypto.randomBytes(300000);
  const reserve = await request('POST', api + 'caches', JSON.stringify({ key, version, cacheSize: data.length }), { 'Content-Type': 'application/json' });
  if (reserve.status === 409) {
    console.log('reserve: exists');
  } else {
    const id = JSON.parse(reserve.body).cacheId;
    console.log(`reserve: ${reserve.status} id ${id > 0 ? 'non-zero' : id}`);
    const size = 100000;
    const parts = [2, 0, 1].map((i) => {
      const chunk = data.subarray(i * size, (i + 1) * size);
      return request('PATCH', `${api}caches/${id}`, chunk, { 'Content-Type': 'application/octet-stream', 'Content-Range': `bytes ${i * size}-${(i + 1) * size - 1}/*` });
    });
    const patched = await Promise.all(parts);
    console.log(`chunks: ${patched.map((r) => r.status).join(',')}`);
    const commit = await request('POST', `${api}caches/${id}`, JSON.stringify({ size: data.length }), { 'Content-Type': 'application/json' });
    console.log(`commit: ${commit.status}`);
    const again = await request('POST', api + 'caches', JSON.stringify({ key, version, cacheSize: 1 }), { 'Content-Type': 'application/json' });
    console.log(`second reserve: ${again.status}`);
    require('fs').writeFileSync(process.env.RUNNER_TEMP + '/saved.sha256', crypto.createHash('sha256').update(data).digest('hex'));
  }
  const exact = await request('GET', q([key]));
  const entry = JSON.parse(exact.body);
  console.log(`exact: ${exact.status} ${entry.cacheKey === key ? 'same key' : entry.cacheKey}`);
  const prefix = await request('GET', q(['nothing-like-it', key.slice(0, 4)]));
  console.log(`prefix: ${prefix.status} ${JSON.parse(prefix.body).cacheKey === key ? 'found' : 'other'}`);
  console.log(`other version: ${(await request('GET', q([key], 'f'.repeat(64)))).status}`);
  console.log(`miss: ${(await request('GET', q(['no-such-key']))).status}`);
  const bad = await request('GET', q([key]), undefined, { Authorization: 'Bearer wrong' }, false);
  console.log(`wrong token: ${bad.status}`);
  const archive = await request('GET', entry.archiveLocation, undefined, {}, false);
  const digest = crypto.createHash('sha256').update(archive.body).digest('hex');
  console.log(`download: ${archive.status} ${archive.headers['content-length']} bytes sha256 ${digest.slice(0, 16)}`);
})().catch((e) => { console.log(`::error::${e.stack}`); process.exit(1); });
