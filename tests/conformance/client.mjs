// gradwire conformance client in Node.js, built from proto/gradwire/v1/gradwire.proto alone: it computes
// graph-part hashes and resident-value handles from the .proto's words, sends by hash first, calls every
// RPC and provokes every status the schema promises. Prints one JSON report; exits 1 on any failure.
//
//   node client.mjs PROTO TARGET TOKEN_TARGET TOKEN CLOSED_TARGET
import { createHash, randomBytes } from 'node:crypto';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import { blake3 } from '@noble/hashes/blake3.js';

const [protoPath, target, tokenTarget, token, closedTarget] = process.argv.slice(2);
const def = protoLoader.loadSync(protoPath, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
const pkg = grpc.loadPackageDefinition(def).gradwire.v1;
const DTYPE = { DTYPE_UNSPECIFIED: 0, FLOAT32: 1, FLOAT64: 2, INT32: 3, INT64: 4, BOOL: 5, UINT8: 6, INT8: 7, INT16: 8, FLOAT16: 9 };

// ----------------------------------------------------------------------------- hashes, from the spec
const u8 = (n) => Buffer.from([n]);
const u32 = (n) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };
const i64 = (n) => { const b = Buffer.alloc(8); b.writeBigInt64LE(BigInt(n)); return b; };
const u64 = (n) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(n)); return b; };
const f64 = (x) => { const b = Buffer.alloc(8); b.writeDoubleLE(x); return b; };
const text = (s) => { const b = Buffer.from(s, 'utf8'); return Buffer.concat([u32(b.length), b]); };
const TAGS = { i: 1, f: 2, b: 3, s: 4, ints: 5, floats: 6, tensor: 7, none: 8 };

function attrBytes(v) {
  const kind = Object.keys(TAGS).find((k) => v[k] !== undefined);
  if (kind === undefined) return u8(0);
  const x = v[kind];
  const body = {
    i: () => i64(x), f: () => f64(x), b: () => u8(x ? 1 : 0), none: () => u8(x ? 1 : 0), s: () => text(x),
    ints: () => Buffer.concat([u32(x.values.length), ...x.values.map(i64)]),
    floats: () => Buffer.concat([u32(x.values.length), ...x.values.map(f64)]),
    tensor: () => Buffer.concat([u8(DTYPE[x.dtype]), u32(x.shape.length), ...x.shape.map(i64),
                                 u64(x.data.length), x.data]),
  }[kind]();
  return Buffer.concat([u8(TAGS[kind]), body]);
}

function partHash(graph) {   // the .proto's "Graph part hashes"
  const h = createHash('sha256');
  h.update(Buffer.from('gradwire.graph.v1\0', 'latin1'));
  h.update(u32(graph.nodes.length));
  for (const node of graph.nodes) {
    h.update(text(node.op));
    h.update(u32(node.inputs.length));
    for (const i of node.inputs) h.update(u32(i));
    const names = Object.keys(node.attrs || {}).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    h.update(u32(names.length));
    for (const name of names) { h.update(text(name)); h.update(attrBytes(node.attrs[name])); }
  }
  return h.digest('hex');
}

function tensorHandle(t) {   // the .proto's "Resident values"
  const bytes = Buffer.concat([Buffer.from('gradwire.tensor.v1\0', 'latin1'), u8(DTYPE[t.dtype]), u32(t.shape.length),
                               ...t.shape.map(i64), t.data]);
  return Buffer.from(blake3(bytes)).toString('hex');
}

// ----------------------------------------------------------------------------- tensors and graphs
const f64Tensor = (values, shape = [values.length]) => ({ dtype: 'FLOAT64', shape, data: Buffer.from(new Float64Array(values).buffer) });
const values = (t) => { const b = Buffer.from(t.data); return Array.from(new Float64Array(b.buffer, b.byteOffset, b.length / 8)); };
const node = (op, inputs = [], attrs = {}) => ({ op, inputs, attrs });
// y = sum(x * c), c = [1.5, -2, 0.25]; node ids: 0 x, 1 c, 2 x*c, 3 y
const linear = { nodes: [node('placeholder', [], { name: { s: 'x' } }),
                         node('constant', [], { value: { tensor: f64Tensor([1.5, -2, 0.25]) } }),
                         node('mul', [0, 1]), node('sum', [2], { keepdims: { b: false }, axes: { none: true } })] };
// q = sum(x * x); node ids: 0 x, 1 x*x, 2 q
const square = { nodes: [node('placeholder', [], { name: { s: 'x' } }), node('mul', [0, 0]),
                         node('sum', [1], { axes: { none: true } })] };
const full = (g) => ({ parts: [{ graph: g }] });
const byHash = (h) => ({ parts: [{ hash: h }] });
const X = f64Tensor([1, 2, 3]);

// ----------------------------------------------------------------------------- calls
const report = { rpcs: {}, statuses: {}, hashes: {}, failures: [] };
const check = (what, ok, detail = '') => { if (!ok) report.failures.push(`${what}: ${detail}`); };
const md = (extra = {}) => { const m = new grpc.Metadata(); m.set('x-gradwire-namespace', NAMESPACE); for (const [k, v] of Object.entries(extra)) m.set(k, v); return m; };
const NAMESPACE = randomBytes(16).toString('hex');

function call(client, method, req, { metadata = md(), deadlineMs = 30000 } = {}) {
  return new Promise((resolve) => {
    client[method](req, metadata, { deadline: Date.now() + deadlineMs }, (err, res) => resolve({ err, res }));
  });
}

// google.rpc.Status -> BadRequest field violations, decoded by hand (protobuf wire format, no schema needed).
function fields(buf) {
  const out = []; let i = 0;
  const varint = () => { let v = 0n, s = 0n; for (;;) { const b = buf[i++]; v |= BigInt(b & 0x7f) << s; s += 7n; if (!(b & 0x80)) return v; } };
  while (i < buf.length) {
    const key = Number(varint()); const no = key >> 3, wt = key & 7;
    if (wt === 2) { const n = Number(varint()); out.push([no, buf.subarray(i, i + n)]); i += n; }
    else if (wt === 0) out.push([no, varint()]); else throw new Error(`wire type ${wt}`);
  }
  return out;
}
function violations(err) {
  const raw = err.metadata.get('grpc-status-details-bin')[0];
  if (!raw) return [];
  const found = [];
  for (const [no, any] of fields(Buffer.from(raw))) {
    if (no !== 3) continue;
    const parts = Object.fromEntries(fields(any));
    if (!String(parts[1]).endsWith('google.rpc.BadRequest')) continue;
    for (const [fno, v] of fields(parts[2])) if (fno === 1) found.push(String(Object.fromEntries(fields(v))[1]));
  }
  return found;
}

async function expectStatus(name, client, method, req, opts = {}, field = undefined) {
  const { err } = await call(client, method, req, opts);
  const code = err ? grpc.status[err.code] : 'OK';
  report.statuses[name] = { code, message: err?.details, field: err ? violations(err)[0] : undefined };
  check(`status ${name}`, code === name, `${code}: ${err?.details}`);
  if (field !== undefined) check(`${name} field violation`, violations(err).includes(field), JSON.stringify(violations(err)));
  return err;
}

const close = (a, b, tol = 1e-9) => a.length === b.length && a.every((v, k) => Math.abs(v - b[k]) <= tol);

async function main() {
  const c = new pkg.Autodiff(target, grpc.credentials.createInsecure());

  // ListOps / GetServerInfo
  const ops = (await call(c, 'ListOps', {})).res.ops;
  report.rpcs.ListOps = ops.length;
  check('ListOps docs', ops.every((o) => o.doc && o.attrs.every((a) => a.doc)), 'an op or attribute without a doc');
  const info = (await call(c, 'GetServerInfo', {})).res;
  report.rpcs.GetServerInfo = info.version;
  check('GetServerInfo', info.version && info.ops.length === ops.length);

  // Evaluate by hash first: NOT_FOUND, then the nodes, then by hash.
  const h = partHash(linear);
  report.hashes.part = h;
  let e = await expectStatus('NOT_FOUND', c, 'Evaluate', { graph: byHash(h), inputs: { x: X }, outputs: [3] });
  check('NOT_FOUND names the part hash', e.details.includes(h), e.details);
  let r = (await call(c, 'Evaluate', { graph: full(linear), inputs: { x: X }, outputs: [3] })).res;
  check('server part hash', r.info.part_hashes[0] === h, `${r.info.part_hashes[0]} != ${h}`);
  r = (await call(c, 'Evaluate', { graph: byHash(h), inputs: { x: X }, outputs: [2, 3] })).res;
  check('Evaluate by hash', close(values(r.outputs[0]), [1.5, -4, 0.75]) && close(values(r.outputs[1]), [-1.75]));
  report.rpcs.Evaluate = values(r.outputs[1])[0];

  // Resident values (4096 bytes or more: smaller ones always travel as bytes): the handle computed here
  // names big; first NOT_FOUND, then sent once, then by handle; a result's handle is its content's too.
  const big = f64Tensor(Array.from({ length: 1024 }, (_, k) => k / 512 - 1));
  const handle = tensorHandle(big);
  report.hashes.handle = handle;
  const named = { dtype: 'FLOAT64', shape: ['1024'], handle };
  const sq = partHash(square);
  const resident = { resident: true, fetch: [2], fetch_gradients: false };
  let e2 = await expectStatus('NOT_FOUND', c, 'Gradient', { graph: full(square), inputs: { x: named }, outputs: [2], wrt: [0] });
  check('NOT_FOUND names the handle', e2.details.includes(handle), e2.details);
  r = (await call(c, 'Gradient', { graph: full(square), inputs: { x: big }, outputs: [2], wrt: [0], options: resident })).res;
  const twice = values(big).map((v) => 2 * v);
  const grad = r.gradients[0];
  check('resident gradient comes back as a handle', grad.handle && grad.data.length === 0, JSON.stringify(grad.handle));
  check('handle of a result', grad.handle === tensorHandle({ ...big, data: Buffer.from(new Float64Array(twice).buffer) }),
        grad.handle);
  r = await call(c, 'Gradient', { graph: byHash(sq), inputs: { x: named }, outputs: [2], wrt: [0],
                                  options: { resident: true, fetch: [2], fetch_gradients: true } });
  check('Gradient by handle', !r.err && close(values(r.res.gradients[0]), twice), r.err?.details);
  report.rpcs.Gradient = r.res && values(r.res.values[0])[0];

  // Jvp, Jacobian, Hessian, CheckGradients
  r = (await call(c, 'Jvp', { graph: byHash(h), inputs: { x: X }, outputs: [3], primals: [0], tangents: [f64Tensor([1, 1, 1])] })).res;
  check('Jvp', close(values(r.tangents[0]), [-0.25]));
  report.rpcs.Jvp = values(r.tangents[0])[0];
  for (const mode of ['JACOBIAN_MODE_UNSPECIFIED', 'JACOBIAN_MODE_AUTO', 'JACOBIAN_MODE_REVERSE', 'JACOBIAN_MODE_FORWARD']) {
    r = (await call(c, 'Jacobian', { graph: byHash(h), inputs: { x: X }, output: 2, wrt: [0], mode })).res;
    check(`Jacobian ${mode}`, close(values(r.jacobians[0]), [1.5, 0, 0, 0, -2, 0, 0, 0, 0.25]));
  }
  report.rpcs.Jacobian = 'four modes';
  r = (await call(c, 'Hessian', { graph: full(square), inputs: { x: X }, output: 2, wrt: [0] })).res;
  check('Hessian', close(values(r.blocks[0]), [2, 0, 0, 0, 2, 0, 0, 0, 2]));
  report.rpcs.Hessian = values(r.blocks[0]);
  r = (await call(c, 'CheckGradients', { graph: full(square), inputs: { x: X }, output: 2, wrt: [0] })).res;
  check('CheckGradients', r.ok === true);
  report.rpcs.CheckGradients = r.ok;

  // Every status the schema promises.
  await expectStatus('INVALID_ARGUMENT', c, 'Evaluate', { graph: byHash('zz'), outputs: [0] }, {}, 'graph.parts[0].hash');
  await expectStatus('INVALID_ARGUMENT', c, 'Gradient', { graph: byHash(h), inputs: { x: X }, outputs: [3], wrt: [9] }, {}, 'wrt[0]');
  await expectStatus('UNIMPLEMENTED', c, 'Evaluate', { graph: full({ nodes: [node('frobnicate')] }), outputs: [0] }, {}, 'graph.nodes[0]');
  await expectStatus('RESOURCE_EXHAUSTED', c, 'Evaluate', { graph: byHash(h), inputs: { x: { dtype: 'FLOAT64', shape: [1 << 30] } }, outputs: [3] });
  const heavy = { nodes: [node('placeholder', [], { name: { s: 'x' } })] };
  for (let k = 0; k < 400; k++) { const y = heavy.nodes.length - 1; heavy.nodes.push(node('matmul', [y, 0])); heavy.nodes.push(node('tanh', [y + 1])); }
  const heavyX = f64Tensor(Array.from({ length: 256 * 256 }, (_, k) => Math.sin(k) / 16), [256, 256]);
  await expectStatus('DEADLINE_EXCEEDED', c, 'Evaluate', { graph: full(heavy), inputs: { x: heavyX }, outputs: [heavy.nodes.length - 1] }, { deadlineMs: 300 });
  const t = new pkg.Autodiff(tokenTarget, grpc.credentials.createInsecure());
  await expectStatus('UNAUTHENTICATED', t, 'Evaluate', { graph: full(linear), inputs: { x: X }, outputs: [3] });
  const ok = await call(t, 'Evaluate', { graph: full(linear), inputs: { x: X }, outputs: [3] }, { metadata: md({ authorization: `Bearer ${token}` }) });
  check('bearer token', !ok.err, ok.err?.details);
  const gone = new pkg.Autodiff(closedTarget, grpc.credentials.createInsecure());
  await expectStatus('UNAVAILABLE', gone, 'ListOps', {}, { deadlineMs: 5000 });

  console.log(JSON.stringify(report, null, 1));
  process.exit(report.failures.length ? 1 : 0);
}

main().catch((e) => { console.log(JSON.stringify({ ...report, crash: String(e.stack) })); process.exit(2); });
